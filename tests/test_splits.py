import numpy as np
import pandas as pd

import reference_port as ref
from encoding_models import splits


def test_split_matches_reference_and_keeps_global_rng():
    rng = np.random.default_rng(0)
    shared = rng.random(1000) < 0.2
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    trn, out, val = splits.make_split(shared, 171301)
    assert np.random.random() == before          # global RNG state untouched
    r_trn, r_val, r_out = ref.make_split(pd.DataFrame({"shared1000": shared}), 171301)
    assert np.array_equal(trn, r_trn) and np.array_equal(out, r_out) and np.array_equal(val, r_val)
    assert out.sum() == int(np.ceil((~shared).sum() * 0.1))
    assert not (trn & out).any() and not (trn & val).any() and (trn | out | val).all()


def test_seeds_are_the_references():
    assert splits.NSD_SPLIT_SEEDS == ref.RNDSEEDS


def test_normalisation_bitwise_equal_to_reference_and_pairs_concatenate():
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        a = (rng.standard_normal((300, 7)) * 3 + 1).astype(dtype)
        b = (rng.standard_normal((300, 5)) * 2 - 1).astype(dtype)
        shared = rng.random(300) < 0.2
        trn, out, val = splits.make_split(shared, 7)
        mine = splits.split_normalize(a, trn, out, val)
        r = ref.split_normalize_feats(a, trn, val, out)
        for m, rr in zip(mine, (r[0], r[2], r[1])):
            assert m.dtype == rr.dtype and m.tobytes() == rr.tobytes()
        # the reference normalises the concatenation; the workflow concatenates normalised layers
        ab = ref.split_normalize_feats(np.concatenate([a, b], 1), trn, val, out)
        na, nb = splits.split_normalize(a, trn, out, val), splits.split_normalize(b, trn, out, val)
        for u, v, rr in zip(na, nb, (ab[0], ab[2], ab[1])):
            assert np.concatenate([u[:, :-1], v[:, :-1], u[:, -1:]], 1).tobytes() == rr.tobytes()


def test_split_of_an_image_does_not_depend_on_missing_rows():
    """The reference's order: split over all rows, then drop n_reps == 0 rows. Marking
    more rows as missing leaves every remaining image in its split."""
    rng = np.random.default_rng(4)
    shared = rng.random(2000) < 0.15
    kept_all = np.ones(2000, bool)
    full = splits.split_kept_rows(shared, kept_all, 42102)
    kept = rng.random(2000) > 0.2          # 20% of rows have no data
    some = splits.split_kept_rows(shared, kept, 42102)
    for f, s in zip(full, some):
        assert np.array_equal(f[kept], s)
    # and it is the reference's: its masks over all rows, restricted to the kept rows
    r_trn, r_val, r_out = ref.make_split(pd.DataFrame({"shared1000": shared}), 42102)
    assert all(np.array_equal(m[kept], s) for m, s in zip((r_trn, r_out, r_val), some))
    # dropping rows before the split (the old order) would move images between splits
    moved = splits.make_split(shared[kept], 42102)
    assert not all(np.array_equal(m, s) for m, s in zip(moved, some))
