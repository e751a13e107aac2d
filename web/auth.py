"""The sign-in page: the lockout itself is enforced in personas.auth's authentication backend."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from personas.auth import client_ip, is_known_device, known_device_remember, lockout_minutes, login_attempt_locked


class LoginView(auth_views.LoginView):
    """The standard login page: 429 with a clear message while locked out; remembers the browser on success."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")
        known = is_known_device(request, username)
        if login_attempt_locked(username=username, ip=client_ip(request), known_device=known):
            form = self.get_form()
            form.is_valid()  # populates cleaned_data; the backend refuses the attempt anyway
            form.errors.clear()
            form.add_error(
                None, f"Too many failed sign-in attempts. Try again in up to {lockout_minutes()} minutes."
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        known_device_remember(request=self.request, response=response, username=form.get_user().get_username())
        return response
