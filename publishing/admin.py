"""Admin console pages of the deployment layer: publishes with their revisions, manifests,
diffs and deployment status, and the publish / withdraw / roll back operations."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from clusters.models import Cluster
from impgateway import rbac
from impgateway.admin import ConcurrentEditForm, ImpModelAdmin, ImpTabularInline

from . import services
from .choices import PublishStatus
from .models import DeploymentStatus, HostnameClaim, ProductPublish, PublishRevision
from .translation import TranslationError


class ProductPublishForm(ConcurrentEditForm):
    class Meta:
        model = ProductPublish
        fields = (
            "tenant",
            "product",
            "api_services",
            "gateway",
            "cluster",
            "environment",
            "auth_mode",
            "oauth2_issuer",
            "oauth2_jwks_uri",
            "oauth2_audiences",
        )
        widgets = {"oauth2_audiences": forms.Textarea(attrs={"rows": 2, "cols": 40})}

    def clean(self) -> dict:
        cleaned = super().clean()
        services_chosen = cleaned.get("api_services")
        tenant = cleaned.get("tenant")
        if services_chosen is not None and tenant is not None:
            self.instance.tenant = tenant
            try:
                self.instance.clean_api_services(list(services_chosen))
            except ValidationError as exc:
                for field, field_messages in exc.message_dict.items():
                    self.add_error(field, field_messages)
        return cleaned


class RevisionInline(ImpTabularInline):
    model = PublishRevision
    fields = (
        "number_link",
        "action",
        "rolled_back_from",
        "content_hash_short",
        "created_by",
        "created",
    )
    readonly_fields = fields
    can_delete = False
    ordering = ("-number",)
    verbose_name_plural = _("revisions")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by", "publish")

    @admin.display(description=_("revision"))
    def number_link(self, revision: PublishRevision) -> str:
        url = reverse(
            "admin:publishing_productpublish_manifests", args=[revision.publish_id, revision.number]
        )
        return format_html('<a href="{}">r{}</a>', url, revision.number)

    @admin.display(description=_("content hash"))
    def content_hash_short(self, revision: PublishRevision) -> str:
        return revision.content_hash[:12]


class DeploymentInline(ImpTabularInline):
    model = DeploymentStatus
    fk_name = "publish"
    fields = (
        "cluster",
        "state",
        "applied_revision",
        "condition_summary",
        "last_error",
        "drift_summary",
        "reported_at",
    )
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = _("deployment status")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("cluster")

    @admin.display(description=_("conditions"))
    def condition_summary(self, deployment: DeploymentStatus) -> str:
        return (
            format_html_join(
                ", ",
                "{} {}={}",
                (
                    (c.get("object", ""), c.get("type", ""), c.get("status", ""))
                    for c in deployment.conditions
                ),
            )
            or "-"
        )

    @admin.display(description=_("last error"))
    def last_error(self, deployment: DeploymentStatus) -> str:
        return str(deployment.errors[-1]) if deployment.errors else "-"

    @admin.display(description=_("drift events"))
    def drift_summary(self, deployment: DeploymentStatus) -> str:
        events = (deployment.drift_events or [])[-5:]
        return (
            format_html_join(
                "",
                "<div>{} <span class='quiet'>{}</span></div>",
                (
                    (event.get("object", ""), event.get("detected_at", ""))
                    for event in reversed(events)
                ),
            )
            or "-"
        )


def example_calls(spec: dict) -> list[tuple[str, str]]:
    """(route, curl command) for each route of a revision spec, with the auth the publish's
    mode needs: none, an API key in `x-api-key`, or an OAuth2 bearer token."""
    listeners = spec["gateway"]["listeners"]
    secure = next((item for item in listeners if item["protocol"] == "HTTPS"), None)
    listener = secure or (listeners[0] if listeners else None)
    scheme = "https" if secure else "http"
    port = listener["port"] if listener else (443 if secure else 80)
    default_port = 443 if secure else 80
    auth = {
        "apikey": ' -H "x-api-key: $API_KEY"',
        "oauth2": ' -H "Authorization: Bearer $ACCESS_TOKEN"',
    }.get(spec["publish"]["auth_mode"], "")
    calls = []
    for hostname in spec["publish"]["hostnames"]:
        base = f"{scheme}://{hostname}" + ("" if port == default_port else f":{port}")
        for service in spec["services"]:
            for route in service["routes"]:
                if route["match_type"] == "RegularExpression":
                    continue
                method = route["methods"][0] if route["methods"] else "GET"
                verb = "" if method == "GET" else f" -X {method}"
                calls.append(
                    (f"{service['name']} / {route['name']}",
                     f"curl -sS{verb}{auth} '{base}{route['path']}'")
                )
    return calls


@admin.register(ProductPublish)
class ProductPublishAdmin(ImpModelAdmin):
    form = ProductPublishForm
    change_form_template = "admin/publishing/productpublish/change_form.html"
    list_display = (
        "__str__",
        "product",
        "cluster",
        "environment",
        "gateway",
        "auth_mode",
        "status",
        "revision_number",
        "updated",
    )
    list_filter = ("status", "environment", "auth_mode", "cluster", "product")
    search_fields = ("product__name", "product__slug", "cluster__name", "gateway__name")
    list_select_related = ("product", "cluster", "gateway", "tenant", "current_revision")
    autocomplete_fields = ("tenant", "product", "gateway", "cluster")
    filter_horizontal = ("api_services",)
    readonly_fields = (
        "status",
        "current_revision",
        "hostname_list",
        "example_call_list",
        "created",
        "updated",
    )
    inlines = (DeploymentInline, RevisionInline)
    actions = ("publish_selected", "withdraw_selected")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # A publish moves through the "move" page (the API's move action), which
            # publishes a published one on the new cluster and removes it from the old one;
            # and it is of one product for good (its keys and hostnames are the product's).
            fields += ["cluster", "product"]
        return fields

    def create_object(self, request, form) -> ProductPublish:
        return services.create_publish(
            form.instance, form.cleaned_data["api_services"], request.user
        )

    def get_fields(self, request, obj=None):
        return [
            *ProductPublishForm.Meta.fields,
            "status",
            "current_revision",
            "hostname_list",
            "example_call_list",
            "created",
            "updated",
            "seen_updated",
        ]

    @admin.display(description=_("revision"), ordering="current_revision__number")
    def revision_number(self, obj: ProductPublish) -> str:
        return f"r{obj.current_revision.number}" if obj.current_revision else "-"

    @admin.display(description=_("hostnames"))
    def hostname_list(self, obj: ProductPublish) -> str:
        if not obj.pk:
            return "-"
        return format_html_join("", "<div><code>{}</code></div>", ((h,) for h in obj.hostnames))

    @admin.display(description=_("example calls"))
    def example_call_list(self, obj: ProductPublish) -> str:
        revision = obj.current_revision if obj.pk else None
        if revision is None or obj.status != PublishStatus.PUBLISHED:
            return _("Publish to get example calls.")
        calls = example_calls(revision.spec)
        if not calls:
            return "-"
        return format_html_join(
            "",
            '<div class="example-call"><button type="button" class="copy-button" '
            'data-target="call-{}" data-done="{}">{}</button><div class="quiet">{}</div>'
            '<pre class="copyable" id="call-{}"><code>{}</code></pre></div>',
            (
                (index, _("Copied"), _("Copy"), label, index, command)
                for index, (label, command) in enumerate(calls)
            ),
        )

    # --- deletion goes through the service, so agents remove what was published ---------

    def delete_model(self, request, obj: ProductPublish) -> None:
        services.delete_publish(obj, request.user)

    def delete_queryset(self, request, queryset) -> None:
        for publish in queryset:
            services.delete_publish(publish, request.user)

    # --- operations -------------------------------------------------------------------

    def get_urls(self):
        def view(func):
            return self.admin_site.admin_view(func)

        return [
            path(
                "<int:pk>/publish/",
                view(self.publish_view),
                name="publishing_productpublish_publish",
            ),
            path(
                "<int:pk>/withdraw/",
                view(self.withdraw_view),
                name="publishing_productpublish_withdraw",
            ),
            path(
                "<int:pk>/rollback/<int:number>/",
                view(self.rollback_view),
                name="publishing_productpublish_rollback",
            ),
            path("<int:pk>/move/", view(self.move_view), name="publishing_productpublish_move"),
            path(
                "<int:pk>/revisions/<int:number>/",
                view(self.manifests_view),
                name="publishing_productpublish_manifests",
            ),
            path("<int:pk>/diff/", view(self.diff_view), name="publishing_productpublish_diff"),
            *super().get_urls(),
        ]

    def _publish_for(self, request: HttpRequest, pk: int, operate: bool) -> ProductPublish:
        publish = get_object_or_404(
            self.get_queryset(request).select_related("current_revision"), pk=pk
        )
        if not self.has_view_permission(request, publish):
            raise PermissionDenied
        if operate and not self.has_publish_permission(request, publish):
            raise PermissionDenied
        return publish

    def _change_url(self, publish: ProductPublish) -> str:
        return reverse("admin:publishing_productpublish_change", args=[publish.pk])

    def _confirm(self, request, publish, title: str, action_label: str, body: dict) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": publish,
            "title": title,
            "action_label": action_label,
            **body,
        }
        return TemplateResponse(request, "admin/publishing/productpublish/confirm.html", context)

    def _run(self, request, publish, operation) -> HttpResponseRedirect:
        """Run an operation that returns its success message; show errors instead on failure."""
        try:
            success = operation()
        except ValidationError as exc:
            for message in exc.messages:
                self.message_user(request, message, messages.ERROR)
        except TranslationError as exc:
            for message in exc.errors:
                self.message_user(request, message, messages.ERROR)
        else:
            self.message_user(request, success, messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(publish))

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        publish = self._publish_for(request, pk, operate=True)
        if request.method == "POST":

            def operation() -> str:
                revision, created = services.publish_revision(publish, request.user)
                if created:
                    return _("Published revision %(n)s.") % {"n": revision.number}
                return _("No changes since revision %(n)s: it stays published.") % {
                    "n": revision.number
                }

            return self._run(request, publish, operation)
        return self._confirm(
            request,
            publish,
            _("Publish %(publish)s?") % {"publish": publish},
            _("Publish"),
            {"diff": services.live_diff(publish), "hostnames": publish.hostnames},
        )

    def withdraw_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        publish = self._publish_for(request, pk, operate=True)
        if request.method == "POST":

            def operation() -> str:
                services.withdraw(publish, request.user)
                return _("Withdrawn: the cluster's agents remove its objects.")

            return self._run(request, publish, operation)
        return self._confirm(
            request,
            publish,
            _("Withdraw %(publish)s?") % {"publish": publish},
            _("Withdraw"),
            {
                "warning": _("Every object of this publish is removed from cluster %(c)s.")
                % {"c": publish.cluster.name}
            },
        )

    def rollback_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponse:
        publish = self._publish_for(request, pk, operate=True)
        target = get_object_or_404(PublishRevision, publish=publish, number=number)
        if request.method == "POST":

            def operation() -> str:
                revision = services.rollback(publish, number, request.user)
                return _("Revision %(new)s publishes the spec of revision %(n)s again.") % {
                    "new": revision.number,
                    "n": number,
                }

            return self._run(request, publish, operation)
        current = publish.current_revision
        return self._confirm(
            request,
            publish,
            _("Roll back %(publish)s to revision %(n)s?") % {"publish": publish, "n": number},
            _("Roll back"),
            {
                "diff": services.spec_diff(
                    current.spec if current else None,
                    target.spec,
                    f"revision {current.number}" if current else "nothing published",
                    f"revision {number}",
                )
            },
        )

    def move_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        publish = self._publish_for(request, pk, operate=True)
        clusters = (
            rbac.restrict(Cluster.objects.all(), request.user)
            .exclude(pk=publish.cluster_id)
            .order_by("name")
        )
        if request.method == "POST":
            cluster = get_object_or_404(clusters, pk=request.POST.get("cluster"))

            def operation() -> str:
                services.move_publish(publish, cluster, request.user)
                return _("Moved to cluster %(c)s.") % {"c": cluster.name}

            return self._run(request, publish, operation)
        return self._confirm(
            request,
            publish,
            _("Move %(publish)s to another cluster") % {"publish": publish},
            _("Move"),
            {"clusters": clusters},
        )

    def manifests_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponse:
        publish = self._publish_for(request, pk, operate=False)
        revision = get_object_or_404(PublishRevision, publish=publish, number=number)
        previous = publish.revisions.filter(number__lt=number).order_by("-number").first()
        output = request.GET.get("o", "yaml")
        error = ""
        try:
            manifests = services.dump_manifests(services.revision_manifests(revision), output)
        except TranslationError as exc:
            manifests, error = "", "; ".join(exc.errors)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": publish,
            "revision": revision,
            "title": _("%(publish)s, revision %(n)s") % {"publish": publish, "n": number},
            "manifests": manifests,
            "error": error,
            "output": output,
            "diff": services.spec_diff(
                previous.spec if previous else None,
                revision.spec,
                f"revision {previous.number}" if previous else "nothing",
                f"revision {number}",
            ),
            "can_rollback": publish.current_revision_id != revision.pk
            and self.has_publish_permission(request, publish),
        }
        return TemplateResponse(request, "admin/publishing/productpublish/manifests.html", context)

    def diff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        publish = self._publish_for(request, pk, operate=False)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": publish,
            "title": _("Unpublished changes of %(publish)s") % {"publish": publish},
            "diff": services.live_diff(publish),
        }
        return TemplateResponse(request, "admin/publishing/productpublish/diff.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        publish = self.get_object(request, object_id)
        if publish is not None:
            publish = services.publish_queryset().get(pk=publish.pk)
            extra_context.update(
                {
                    "unpublished_changes": services.has_unpublished_changes(publish),
                    "can_publish": self.has_publish_permission(request, publish),
                    "is_published": publish.status == PublishStatus.PUBLISHED,
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # --- bulk actions -----------------------------------------------------------------

    @admin.action(description=_("Publish selected publishes"), permissions=("publish",))
    def publish_selected(self, request, queryset):
        self._bulk(
            request, queryset, lambda p: services.publish_revision(p, request.user), _("published")
        )

    @admin.action(description=_("Withdraw selected publishes"), permissions=("publish",))
    def withdraw_selected(self, request, queryset):
        self._bulk(request, queryset, lambda p: services.withdraw(p, request.user), _("withdrawn"))

    def _bulk(self, request, queryset, operation, done: str) -> None:
        succeeded = 0
        for publish in queryset:
            if not self.has_publish_permission(request, publish):
                self.message_user(request, f"{publish}: permission denied", messages.ERROR)
                continue
            try:
                operation(publish)
            except ValidationError as exc:
                for message in exc.messages:
                    self.message_user(request, f"{publish}: {message}", messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} {done}.", messages.SUCCESS)


@admin.register(PublishRevision)
class PublishRevisionAdmin(ImpModelAdmin):
    list_display = ("__str__", "number", "action", "created_by", "created")
    list_filter = ("action", "publish__cluster", "publish__environment")
    search_fields = ("publish__product__slug", "content_hash")
    list_select_related = ("publish__product", "publish__cluster", "created_by")
    readonly_fields = (
        "publish",
        "number",
        "action",
        "rolled_back_from",
        "content_hash",
        "created_by",
        "created",
        "spec",
    )

    def get_fields(self, request, obj=None):
        return self.readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DeploymentStatus)
class DeploymentStatusAdmin(ImpModelAdmin):
    list_display = ("__str__", "cluster", "state", "applied_revision", "reported_at")
    list_filter = ("state", "cluster")
    search_fields = ("publish__product__slug", "cluster__name")
    list_select_related = ("cluster", "publish__product")
    readonly_fields = (
        "publish",
        "publish_ref",
        "cluster",
        "state",
        "applied_revision",
        "objects_summary",
        "conditions",
        "errors",
        "drift_events",
        "reported_at",
        "updated",
    )

    def get_fields(self, request, obj=None):
        return self.readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(HostnameClaim)
class HostnameClaimAdmin(ImpModelAdmin):
    """Which publish owns which hostname on which cluster; claims are made by publishing and
    released by withdrawing, moving or deleting, never by hand."""

    list_display = ("hostname", "cluster", "publish", "created")
    list_filter = ("cluster",)
    search_fields = ("hostname", "publish__product__slug")
    list_select_related = ("cluster", "publish__product", "publish__cluster")
    readonly_fields = ("hostname", "cluster", "publish", "created")

    def get_fields(self, request, obj=None):
        return self.readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
