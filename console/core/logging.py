"""Logging for every process: loguru to stdout and `LOG_DIR/<process>.log`, stdlib routed into it."""

from __future__ import annotations

import inspect
import logging
import sys

from loguru import logger

from console.core.settings import Settings

FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "{extra[process]} | job={extra[job_id]} | <cyan>{name}</cyan>:{line} - <level>{message}</level>"
)
STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task", "celery.worker", "kombu")


class InterceptHandler(logging.Handler):
    """Send stdlib log records to loguru (loguru's README recipe)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = inspect.currentframe(), 0
        while frame and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def setup_logging(process: str, settings: Settings) -> None:
    """Configure loguru for this process (`web`, `worker`, `flower`, `cli`); safe to call again."""
    logger.remove()
    logger.configure(extra={"job_id": "-", "process": process})
    logger.add(sys.stdout, level=settings.LOG_LEVEL, format=FORMAT, colorize=False, diagnose=False)
    settings.LOG_DIR.mkdir(parents=True, exist_ok=True)
    logger.add(
        settings.LOG_DIR / f"{process}.log",
        level=settings.LOG_LEVEL,
        format=FORMAT,
        rotation="20 MB",
        retention="14 days",
        compression="gz",
        enqueue=True,
        diagnose=False,
    )
    logging.basicConfig(handlers=[InterceptHandler()], level=0, force=True)
    for name in STDLIB_LOGGERS:
        stdlib_logger = logging.getLogger(name)
        stdlib_logger.handlers = []
        stdlib_logger.propagate = True
