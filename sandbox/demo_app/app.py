"""The demo's web app: a tiny FastAPI service with a health endpoint."""

from fastapi import FastAPI

app = FastAPI(title="hello")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/")
def index() -> dict[str, str]:
    return {"message": "hello from AutoStack"}
