def test_login_page_renders_in_russian_by_default(client):
    """Does the login page open, in Russian, for an anonymous visitor?"""
    response = client.get("/login")
    assert response.status_code == 200
    assert 'lang="ru"' in response.get_data(as_text=True)
