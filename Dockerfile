# calsync's production image: gunicorn for the web, the same image for Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CALSYNC_ENV=production
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs settings that pass the production checks, but no real secret.
RUN SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret-build-only \
    ENCRYPTION_KEYS=YnVpbGQtb25seS1rZXktbm90LWEtc2VjcmV0LTAwMDA= \
    ALLOWED_HOSTS=build DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput

RUN useradd --system --home /app calsync && mkdir -p /app/var && chown calsync /app/var
USER calsync
EXPOSE 8000
CMD ["gunicorn", "calsync.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
