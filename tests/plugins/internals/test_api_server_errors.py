"""The guard on plugins/rest_trigger_internals/api_server_errors.py: with Airflow 2.11's 500 page
registered the way Airflow registers it (after the plugins, for the code 500), an API view's
unexpected error gets the 500 problem and never reaches that page, also when one of the
project's own handlers passes on it; the UI's errors still do. Fails when Flask changes the
order it tries handlers in, or Airflow registers its page differently."""

from __future__ import annotations

import inspect

from airflow.www.extensions import init_views
from flask import Flask, abort
from rest_trigger_internals import api_client_errors, api_server_errors, run_id_errors

PAGE = "Airflow's HTML page"


def _app() -> Flask:
    app = Flask(__name__)
    # As create_app does: the plugins' blueprints first, then Airflow's own 500 page.
    for blueprint in (run_id_errors.blueprint, api_client_errors.blueprint,
                      api_server_errors.blueprint):  # fmt: skip
        app.register_blueprint(blueprint)
    app.register_error_handler(500, lambda error: (PAGE, 500))

    @app.route("/api/v1/key-error")
    def key_error() -> str:
        raise KeyError("0")  # what marshmallow raised for fields=0.5

    @app.route("/api/v1/other-value-error")
    def other_value_error() -> str:
        raise ValueError("not one api_client_errors maps")

    @app.route("/api/v1/bad-request")
    def bad_request() -> str:
        abort(400)

    @app.route("/home")
    def home() -> str:
        raise KeyError("0")

    return app


def test_airflow_registers_its_page_for_the_code_500() -> None:
    # A class handler is tried before a code handler; an Exception one would override ours.
    assert "register_error_handler(500, views.show_traceback)" in inspect.getsource(
        init_views.init_error_handlers
    )


def test_api_errors_get_the_problem_and_the_ui_keeps_the_page() -> None:
    client = _app().test_client()
    for path in ("/api/v1/key-error", "/api/v1/other-value-error"):
        response = client.get(path)
        assert response.status_code == 500, (path, response.text)
        assert response.content_type == "application/problem+json", (path, response.text)
        assert response.json["detail"] == api_server_errors.DETAIL
    assert client.get("/api/v1/bad-request").status_code == 400  # HTTP errors left to Flask
    home = client.get("/home")
    assert (home.status_code, home.text) == (500, PAGE)
