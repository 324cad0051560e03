"""The BiLSTM's training path (directions run apart over unpacked sequences) against its packed path."""
import pytest
import torch

from extractor.model.encoders import BiLSTMEncoder


@pytest.mark.parametrize("num_layers", [1, 2])
def test_training_and_packed_paths_give_the_same_states_and_gradients(num_layers):
    torch.manual_seed(0)
    encoder = BiLSTMEncoder(vocab_size=50, embed_dim=8, hidden_size=6, num_layers=num_layers, dropout=0.0,
                            bigram_buckets=64)
    lengths = torch.tensor([7, 3, 5, 1])
    mask = (torch.arange(7)[None, :] < lengths[:, None]).long()
    ids = torch.randint(2, 50, (4, 7)) * mask

    def states_and_grads(training):
        encoder.zero_grad()
        encoder.train(training)
        h = encoder(ids, mask)
        (h * torch.linspace(-1, 1, h.shape[-1])).sum().backward()  # every state dimension its own weight
        return h.detach(), {n: p.grad.clone() for n, p in encoder.named_parameters()}

    trained, trained_grads = states_and_grads(True)
    packed, packed_grads = states_and_grads(False)
    assert trained.shape == packed.shape == (4, 7, 12)
    assert torch.allclose(trained, packed, atol=1e-6)
    assert trained[1, 3:].abs().max() == 0 and trained[3, 1:].abs().max() == 0  # padding holds zeros, as packed
    assert packed_grads.keys() == trained_grads.keys()
    for name in packed_grads:
        assert torch.allclose(trained_grads[name], packed_grads[name], atol=1e-5), name
