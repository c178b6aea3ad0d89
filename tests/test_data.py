import torch

from bench.data.loader import Batches, to_uint8, to_unit_range


def test_batches_are_scaled_and_cover_each_image_once_per_epoch(tiny_images):
    torch.manual_seed(0)
    batches = Batches(tiny_images, batch_size=64)
    seen = torch.cat([batches.next() for _ in range(4)])
    assert seen.shape == (256, 1, 28, 28) and seen.dtype == torch.float32
    assert seen.min() >= -1 and seen.max() <= 1
    assert batches.epoch == 0
    # Every image exactly once: compare sorted rows of the two sets.
    assert torch.equal(to_uint8(seen).flatten(1).sort(0).values, tiny_images.flatten(1).sort(0).values)
    batches.next()
    assert batches.epoch == 1


def test_scaling_round_trips_exactly(tiny_images):
    assert torch.equal(to_uint8(to_unit_range(tiny_images)), tiny_images)


def test_one_seed_one_order_and_state_restores_the_stream(tiny_images):
    def stream(n, state=None):
        torch.manual_seed(3)
        b = Batches(tiny_images, batch_size=48)
        return b, [b.next() for _ in range(n)]

    b1, first = stream(7)
    _, again = stream(7)
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    saved, rng = b1.state_dict(), torch.get_rng_state()
    later = [b1.next() for _ in range(5)]
    b2 = Batches(tiny_images, batch_size=48)
    b2.load_state_dict(saved)
    torch.set_rng_state(rng)
    assert all(torch.equal(x, y) for x, y in zip(later, [b2.next() for _ in range(5)]))
