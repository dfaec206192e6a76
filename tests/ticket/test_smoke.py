async def test_happy_path(client, auth, w, report, clock) -> None:  # type: ignore[no-untyped-def]
    r = await report()
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["grid_id"] == str(w.g1.id) and t["status"] == "submitted" and t["seconds_to_respond"] == 600
    tid = t["id"]
    r = await client.post(f"/api/v1/tickets/{tid}/claim", headers=auth(w.worker))
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/tickets/{tid}/arrive",
        json={"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"},
        headers=auth(w.worker),
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/tickets/{tid}/resolve", json={"note": "已修好"}, headers=auth(w.worker))
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/tickets/{tid}/confirm", json={"rating": 5}, headers=auth(w.resident))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "closed"
    assert [e["action"] for e in body["timeline"]] == ["create", "claim", "arrive", "resolve", "confirm"]
    r = await client.get(f"/api/v1/tickets/{tid}", headers=auth(w.other_resident))
    assert r.status_code == 200 and r.json()["is_full_view"] is False and r.json()["reporter"] is None
    r = await client.get("/api/v1/tickets", params={"view": "queue"}, headers=auth(w.worker))
    assert r.status_code == 200, r.text
    r = await client.get("/api/v1/tickets", params={"view": "all"}, headers=auth(w.c1_admin))
    assert r.status_code == 200 and len(r.json()["items"]) == 1
