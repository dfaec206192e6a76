"""Dependencies for the app-wide singletons kept on app.state (tests replace them there)."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
