"""The REST API under /api."""

from fastapi import APIRouter

from console.api import configs, datasets, jobs

api_router = APIRouter(prefix="/api")
api_router.include_router(datasets.router)
api_router.include_router(configs.router)
api_router.include_router(jobs.router)
