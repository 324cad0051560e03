"""Industry resolver: employer name -> GB/T 4754-2017 section letter (A..T)."""
