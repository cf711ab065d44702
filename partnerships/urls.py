from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from . import assessment, views


class FaviconRedirect(RedirectView):
    permanent = True

    def get_redirect_url(self, *args, **kwargs):
        return static("favicon.svg")  # resolved per request: the name is hashed in production


urlpatterns = [
    path("", views.overview, name="overview"),
    path("reach/", views.overview_reach, name="overview_reach"),
    path("pairings/<int:pk>/", views.pairing_detail, name="pairing"),
    path("pairings/<int:pk>/targets/", assessment.pairing_targets, name="pairing_targets"),
    path("pairings/<int:pk>/report/<int:year>/", assessment.pairing_report, name="pairing_report"),
    path(
        "pairings/<int:pk>/report/<int:year>.pdf",
        assessment.pairing_report_pdf,
        name="pairing_report_pdf",
    ),
    path("targets/", assessment.ranking, name="ranking"),
    path("visits/<int:pk>/record/", assessment.visit_record, name="visit_record"),
    path("visits/<int:pk>/record.pdf", assessment.visit_record_pdf, name="visit_record_pdf"),
    path("regions/<int:pk>/", views.region_detail, name="region"),
    path("visits/<int:pk>/", views.visit_detail, name="visit"),
    path("donors/<int:pk>/", views.donor_detail, name="donor"),
    path("search/", views.search_results, name="search"),
    path("export/<slug:summary>.<slug:fmt>", views.export, name="export"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Officials have no admin, where staff change their password: theirs is changed here.
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(template_name="partnerships/password_change.html"),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="partnerships/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("accounts/session/", views.session_alive, name="session_alive"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin's).
    path("favicon.ico", FaviconRedirect.as_view(), name="favicon"),
]
