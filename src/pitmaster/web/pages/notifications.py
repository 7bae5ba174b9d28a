"""Notification targets: the list, one target with its recent deliveries, making, changing,
deleting one, and sending a test. Admins only."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from pitmaster.app_secrets import SecretsUnavailable
from pitmaster.errors import Conflict, InvalidInput
from pitmaster.http_common.deps import ServicesDep
from pitmaster.http_common.validation import describe_validation_error
from pitmaster.services import notifications
from pitmaster.services.notifications import TargetCreate, TargetUpdate
from pitmaster.web.forms import Form, FormInvalid
from pitmaster.web.pages.common import (
    PostedForm,
    admin_router,
    errors_of,
    redirect,
    render,
    status_of,
)

_FORM_ERRORS = (FormInvalid, Conflict, InvalidInput, SecretsUnavailable)


def _target_form(form: Form) -> TargetCreate:
    try:
        return TargetCreate.model_validate(
            {
                "name": form.get("name").strip(),
                "kind": form.get("kind"),
                "url": form.get("url").strip(),
                "secret": form.get("secret").strip() or None,
                "description": form.get("description"),
            }
        )
    except ValidationError as exc:
        raise FormInvalid([describe_validation_error(e) for e in exc.errors()]) from exc


def _target_changes(form: Form) -> TargetUpdate:
    try:
        return TargetUpdate.model_validate(
            {
                "url": form.get("url").strip() or None,
                "secret": form.get("secret").strip() or None,
                "description": form.get("description"),
            }
        )
    except ValidationError as exc:
        raise FormInvalid([describe_validation_error(e) for e in exc.errors()]) from exc


def _path(name: str) -> str:
    return f"/notification_targets/{quote(name, safe='')}"


@admin_router.get("/notification_targets", response_class=HTMLResponse)
def targets_index(request: Request, services: ServicesDep) -> HTMLResponse:
    targets = services.store.notifications.list_targets()
    return render(request, "notification_targets.html", targets=targets)


@admin_router.get("/notification_targets/new", response_class=HTMLResponse)
def target_new(request: Request) -> HTMLResponse:
    return render(request, "notification_target_form.html", target=None, values={}, errors=[])


@admin_router.post("/notification_targets", response_class=HTMLResponse)
def target_create(request: Request, form: PostedForm, services: ServicesDep) -> Response:
    try:
        created = notifications.create_target(services.store, services.settings, _target_form(form))
    except _FORM_ERRORS as error:
        values = form.as_dict() | {"url": "", "secret": ""}  # never echoed back
        return render(
            request,
            "notification_target_form.html",
            status_of(error),
            target=None,
            values=values,
            errors=errors_of(error),
        )
    if created.secret is not None:  # shown this once: no redirect, which would lose it
        return _target_page(request, services, created.target.name, created.secret)
    return redirect(_path(created.target.name))


def _target_page(
    request: Request, services: ServicesDep, name: str, new_secret: str | None = None
) -> HTMLResponse:
    target = services.store.notifications.get_target(name)
    deliveries = services.store.notifications.deliveries_of(name)
    return render(
        request,
        "notification_target.html",
        target=target,
        deliveries=deliveries,
        new_secret=new_secret,
        sent=request.query_params.get("sent"),
    )


@admin_router.get("/notification_targets/{name}", response_class=HTMLResponse)
def target_show(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    return _target_page(request, services, name)


@admin_router.get("/notification_targets/{name}/edit", response_class=HTMLResponse)
def target_edit(request: Request, name: str, services: ServicesDep) -> HTMLResponse:
    target = services.store.notifications.get_target(name)
    values = {"description": target.description}
    return render(request, "notification_target_form.html", target=target, values=values, errors=[])


@admin_router.post("/notification_targets/{name}/edit", response_class=HTMLResponse)
def target_update(request: Request, name: str, form: PostedForm, services: ServicesDep) -> Response:
    target = services.store.notifications.get_target(name)
    try:
        notifications.update_target(services.store, services.settings, name, _target_changes(form))
    except _FORM_ERRORS as error:
        return render(
            request,
            "notification_target_form.html",
            status_of(error),
            target=target,
            values={"description": form.get("description")},
            errors=errors_of(error),
        )
    return redirect(_path(name))


@admin_router.post("/notification_targets/{name}/test")
def target_test(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    delivery_id = notifications.send_test(services.store, name)
    return redirect(f"{_path(name)}?sent={quote(delivery_id)}")


@admin_router.post("/notification_targets/{name}/delete")
def target_delete(name: str, _form: PostedForm, services: ServicesDep) -> Response:
    notifications.delete_target(services.store, name)
    return redirect("/notification_targets")
