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
