"""Files of an MLflow logged model that is still uploading are live for `heron gc`."""

from __future__ import annotations


def test_files_of_a_model_being_uploaded_are_live_until_it_is_finalized(sqlite_store):
    content_hash = "ab" * 32
    sqlite_store.put_logged_model_file("m-" + "0" * 32, "MLmodel", content_hash, 10)
    assert content_hash in sqlite_store.live_content_hashes()
    sqlite_store.delete_logged_model_files("m-" + "0" * 32)
    assert content_hash not in sqlite_store.live_content_hashes()
