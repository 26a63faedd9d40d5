"""Flatmaps drawn without inkscape, and the reference's volume placement."""
import logging
import os

import numpy as np
import pytest

from encoding_models import maps

pytestmark = pytest.mark.workflow


def test_get_full_volume_is_the_references():
    mask = np.zeros(4 * 3 * 2, dtype=bool)
    mask[[1, 5, 22]] = True
    vol = maps.get_full_volume(np.array([10.0, 20.0, 30.0]), mask, (4, 3, 2))
    assert vol.shape == (2, 3, 4)                       # moveaxis [0,1,2] -> [2,1,0]
    ref = np.full((4, 3, 2), np.nan)
    ref.reshape(-1)[[1, 5, 22]] = [10, 20, 30]
    np.testing.assert_array_equal(vol, np.transpose(ref, (2, 1, 0)))


def test_maps_render_without_inkscape_with_one_warning(demo_run, tmp_path, monkeypatch, caplog):
    from encoding_models import pipeline
    monkeypatch.setattr(maps.shutil, "which", lambda name: None)   # as if inkscape were not installed
    out = tmp_path / "r2_Conv1.png"
    store = tmp_path / "store"             # its own store: this one's options.cfg says no inkscape
    with caplog.at_level(logging.WARNING, logger="encoding_models"):
        pipeline.result_flatmap(str(store), "S1", "fullhead",
                                os.path.join(demo_run, "resources", "demo", "voxel_roi_info.npy"),
                                os.path.join(demo_run, "results", "demo", "fits", "Conv1.h5"), "r2",
                                cmap="Blues", vmin=0, vmax=0.4, title="no inkscape", out_png=str(out),
                                with_rois="auto", height=512)
    from PIL import Image
    img = Image.open(out)
    assert "rois=False" in img.text["Description"]
    assert np.asarray(img.convert("RGB"), float).std() > 10
    assert [r.message for r in caplog.records].count(
        "inkscape is not installed: flatmaps are drawn without ROI outlines and labels") == 1
