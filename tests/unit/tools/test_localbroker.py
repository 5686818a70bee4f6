from streams.tools.localbroker import new_cluster_id


def test_cluster_ids_are_22_url_safe_characters_never_starting_with_a_dash():
    ids = {new_cluster_id() for _ in range(5000)}  # about 78 of 5000 raw ids would start with '-'
    assert len(ids) == 5000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert all(set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for i in ids)
