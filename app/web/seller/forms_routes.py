"""Views of the seller's API forms: parse, call app.market.payment_forms, commit, render."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.errors import ValidationFailed
from app.extensions import db, limiter
from app.market import form_health, payment_forms
from app.web.rate_limits import credential_check_limit, user_or_address
from app.web.seller.blueprint import bp
from app.web.seller.forms import FormLimitsForm, api_form_class

# Saving a form checks the credentials with the provider: both views share one per-user budget.
_credential_check_limit = limiter.shared_limit(credential_check_limit, scope="credential-check", methods=["POST"],
                                               key_func=user_or_address)


def _page(template: str, **context):
    return render_template(template, kinds=payment_forms.KINDS, kind_labels=payment_forms.KIND_LABELS,
                           health_of=form_health.health_of, **context)


@bp.get("/api-forms")
def api_forms():
    """The seller's API forms with their health, and the ways to add one."""
    return _page("seller/api_forms.html", forms=payment_forms.own_forms(current_user))


@bp.route("/api-forms/new", methods=["GET", "POST"])
@_credential_check_limit
def new_api_form():
    """Add an API form of ``?kind=``; the credentials are checked with the provider before saving."""
    kind = request.args.get("kind", "")
    if kind not in payment_forms.KINDS:
        abort(404)
    form = api_form_class(kind, editing=False)()
    if form.validate_on_submit():
        try:
            created = payment_forms.add_form(current_user, kind, form.name.data, form.credentials())
        except ValidationFailed as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("The provider accepted the credentials and the form is saved. Now set the notification "
                    "address below in the provider's cabinet."), "success")
            return redirect(url_for("seller.api_form", form_id=created.id))
    return _page("seller/api_forms_new.html", form=form, kind=kind)


@bp.route("/api-forms/<int:form_id>", methods=["GET", "POST"])
@_credential_check_limit
def api_form(form_id: int):
    """One API form: its notification address, health and settings (new credentials are checked live)."""
    pf = payment_forms.get_own(current_user, form_id)
    form = api_form_class(pf.kind, editing=True)(data=payment_forms.editable_values(pf))
    limits_form = FormLimitsForm(formdata=None, data=FormLimitsForm.initial(pf))
    if form.validate_on_submit():
        try:
            payment_forms.update_form(current_user, pf.id, form.name.data, form.credentials())
        except ValidationFailed as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("seller.api_form", form_id=form_id))
    return _edit_page(pf, form, limits_form)


def _edit_page(pf, form, limits_form):
    return _page("seller/api_forms_edit.html", pf=pf, form=form, limits_form=limits_form,
                 masked=payment_forms.masked_credentials(pf),
                 notification_url=payment_forms.notification_url(pf))


@bp.post("/api-forms/<int:form_id>/limits")
def api_form_limits(form_id: int):
    """Set the form's own limits (per day, the gap between invoices, working hours); bad values write nothing."""
    pf = payment_forms.get_own(current_user, form_id)
    limits_form = FormLimitsForm()
    if limits_form.validate_on_submit():
        try:
            payment_forms.set_limits(current_user, pf.id, **limits_form.values())
        except ValidationFailed as exc:
            db.session.rollback()
            limits_form.form_errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("The form's limits are saved."), "success")
            return redirect(url_for("seller.api_form", form_id=form_id))
    form = api_form_class(pf.kind, editing=True)(formdata=None, data=payment_forms.editable_values(pf))
    return _edit_page(pf, form, limits_form)


@bp.post("/api-forms/<int:form_id>/enable")
def enable_api_form(form_id: int):
    """Offer the form to buyers again."""
    payment_forms.set_enabled(current_user, form_id, True)
    db.session.commit()
    flash(_("The form is enabled."), "success")
    return redirect(url_for("seller.api_form", form_id=form_id))


@bp.post("/api-forms/<int:form_id>/disable")
def disable_api_form(form_id: int):
    """Stop offering the form to buyers; invoices already issued with it still complete."""
    payment_forms.set_enabled(current_user, form_id, False)
    db.session.commit()
    flash(_("The form is disabled. Invoices already issued with it will still complete."), "success")
    return redirect(url_for("seller.api_form", form_id=form_id))


@bp.post("/api-forms/<int:form_id>/delete")
def delete_api_form(form_id: int):
    """Delete the form and erase its credentials, unless the market still needs it."""
    try:
        payment_forms.delete_form(current_user, form_id)
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("seller.api_form", form_id=form_id))
    db.session.commit()
    flash(_("The form is deleted and its credentials are erased."), "success")
    return redirect(url_for("seller.api_forms"))
