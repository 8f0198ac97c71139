# Anlian: `make run` to try it, `make test` to check it. Everything else is optional.
VENV ?= .venv
PY := $(VENV)/bin/python
ANLIAN := $(VENV)/bin/anlian
export ANLIAN_DATA_DIR ?= var

.PHONY: run test install install-test messages clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	bash scripts/system-deps.sh
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(ANLIAN) migrate --noinput -v 0
	$(ANLIAN) demo
	@echo "打开 / open http://127.0.0.1:8000/  (Ctrl-C 停止 / to stop)"
	$(ANLIAN) serve

test: install-test
	$(VENV)/bin/pytest

# Re-extract translatable strings after changing texts, then fill in locale/en/.../django.po.
messages: install
	cd src/anlian && ../../$(ANLIAN) makemessages -l en --no-obsolete && ../../$(ANLIAN) compilemessages -l en

clean:
	rm -rf $(VENV) var
