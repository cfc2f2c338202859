"""Django settings for running only the agent: `DJANGO_SETTINGS_MODULE=agent.settings
python manage.py agent ...`.

The agent needs Django for nothing but the management-command machinery. These settings load
no models, configure no database and need no control-plane secrets, so the agent's container
runs with a read-only file system and without the control plane's configuration.
The full `impgateway.settings` works too (the agent never touches its database).
"""

SECRET_KEY = "imp-gateway-agent-signs-nothing"  # noqa: S105 - the agent uses no Django crypto
DEBUG = False
INSTALLED_APPS = ["agent"]
DATABASES: dict = {}
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
# The agent configures its own structured logging (agent.logs).
LOGGING_CONFIG = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
