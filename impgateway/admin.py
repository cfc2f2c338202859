"""The admin console's shared pieces: site branding and the base class every model admin uses."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _

admin.site.site_header = _("Imp-Gateway")
admin.site.site_title = _("Imp-Gateway console")
admin.site.index_title = _("API gateway management")


class ConcurrentEditForm(forms.ModelForm):
    """Refuses to save over a change someone else saved after this form was opened."""

    seen_updated = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and getattr(self.instance, "updated", None):
            self.fields["seen_updated"].initial = self.instance.updated.isoformat()

    def clean(self) -> dict:
        cleaned = super().clean()
        seen = cleaned.get("seen_updated")
        if self.instance.pk and seen:
            # The admin wraps the save in a transaction: locking the row here makes the
            # check and the write one step on databases that support row locks.
            current = (
                type(self.instance)
                ._default_manager.select_for_update()
                .filter(pk=self.instance.pk)
                .values_list("updated", flat=True)
                .first()
            )
            if current is not None and current.isoformat() != seen:
                raise forms.ValidationError(
                    _(
                        "Someone else changed this %(model)s since you opened it. "
                        "Reload the page to see their change, then edit again."
                    ),
                    code="concurrent_edit",
                    params={"model": self.instance._meta.verbose_name},
                )
        return cleaned


class ImpModelAdmin(admin.ModelAdmin):
    """Base admin for Imp-Gateway models: concurrent-edit detection and sane defaults."""

    form = ConcurrentEditForm
    list_per_page = 50
    show_full_result_count = False
    readonly_fields: tuple[str, ...] = ("created", "updated")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        # The hidden concurrency field rides along with every change form.
        if "seen_updated" not in fields:
            fields.append("seen_updated")
        return fields
