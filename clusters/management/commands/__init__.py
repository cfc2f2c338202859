"""`manage.py create_registration_token`."""
