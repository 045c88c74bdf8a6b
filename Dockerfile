# SecondOpinion application image: the same image runs the web server (default CMD), the
# Celery worker, Celery beat and the one-shot migration (see docker-compose.yml).
#
# Every configuration value comes from the environment at run time (secondopinion/settings.py,
# .env.example); nothing secret is baked into the image.

FROM python:3.11.17-slim-bookworm

# Every compiled dependency (pydicom's codecs python-gdcm and pylibjpeg-openjpeg, Pillow,
# numpy, psycopg2-binary) ships a manylinux wheel that bundles its own libraries, and the rest
# (glibc, libstdc++, libgcc, zlib) is already in the slim base. The one exception is WeasyPrint
# (report PDFs, insurance letters, cost summaries): it loads Pango, HarfBuzz and a font from the
# system.
#
# PYTHONPATH puts the source tree in /app before the copy that `pip install .` leaves in
# site-packages, for every entry point (gunicorn, celery, manage.py): settings.py finds
# templates/ and static/ beside itself (BASE_DIR), and VAR_DIR is the app user's folder.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=secondopinion.settings \
    PYTHONPATH=/app \
    VAR_DIR=/app/var

# A home directory, so tools that keep state under ~ (gunicorn's control socket) can.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
       --shell /usr/sbin/nologin app

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that a change to the code does not
# reinstall them. The list is read with the standard library (tomllib), not copied by hand.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY manage.py ./
COPY secondopinion/ secondopinion/
COPY requests_app/ requests_app/
COPY records/ records/
COPY insurance/ insurance/
COPY reviewers/ reviewers/
COPY templates/ templates/
COPY static/ static/

# The project itself (not the dev extra); its dependencies are already in place.
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build *.egg-info

# Static files are collected into $VAR_DIR/static at build time and served by whitenoise.
# The key is a throwaway used only by this command; the running containers need their own.
# The default file broker's folders that importing settings creates are removed again, and
# only $VAR_DIR itself is handed to the app user: the collected files stay read-only.
RUN SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput \
    && rm -rf "$VAR_DIR/broker" "$VAR_DIR/secret_key" \
    && chown app:app "$VAR_DIR"

USER app

EXPOSE 8000

CMD ["gunicorn", "secondopinion.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--timeout", "120"]
