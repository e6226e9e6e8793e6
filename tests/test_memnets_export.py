"""CVs as take-away files: the zip's .npy files and CSV read back to the same numbers."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np

from cgviz.memnets.export import cv_files_zip, cv_table_csv, write_cv_files


def test_the_zip_holds_each_trajectory_as_npy_and_all_of_them_in_one_csv(tmp_path):
    rng = np.random.default_rng(0)
    sets = {"MEMnets": [rng.normal(size=(5, 2)), rng.normal(size=(3, 2))],
            "TICA": [rng.normal(size=(5, 1)), rng.normal(size=(3, 1))]}
    archive = zipfile.ZipFile(io.BytesIO(cv_files_zip(sets, dt_ps=2.0)))
    assert sorted(archive.namelist()) == ["MEMnets_traj0.npy", "MEMnets_traj1.npy",
                                          "TICA_traj0.npy", "TICA_traj1.npy", "cvs.csv"]
    np.testing.assert_array_equal(np.load(io.BytesIO(archive.read("MEMnets_traj1.npy"))),
                                  sets["MEMnets"][1])
    rows = list(csv.DictReader(io.StringIO(archive.read("cvs.csv").decode())))
    assert len(rows) == 16 and rows[0].keys() == {"cvs", "trajectory", "frame", "time_ps",
                                                  "cv1", "cv2"}
    last_memnets = [r for r in rows if r["cvs"] == "MEMnets"][-1]
    assert (last_memnets["trajectory"], last_memnets["frame"], last_memnets["time_ps"]) == \
        ("1", "2", "4")
    assert float(last_memnets["cv2"]) == np.float64(f"{sets['MEMnets'][1][2, 1]:.8g}")
    assert [r for r in rows if r["cvs"] == "TICA"][0]["cv2"] == ""  # one CV only
    written = write_cv_files(sets, tmp_path / "out", dt_ps=2.0)
    assert (written / "cvs.csv").read_text() == cv_table_csv(sets, 2.0)


def test_a_plain_list_without_a_time_step_has_an_empty_time_column():
    text = cv_table_csv([np.zeros((2, 1))])
    assert text.splitlines() == ["cvs,trajectory,frame,time_ps,cv1", "cvs,0,0,,0", "cvs,0,1,,0"]
