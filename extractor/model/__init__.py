"""The network and everything that trains, runs, exports and scores it."""
