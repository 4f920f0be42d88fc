"""Which model scores: a registered version or run of this tracking store, loaded on demand, and its saved threshold.

Models load only from this store: a model is a pickle, and loading one runs its code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import mlflow

from core import runs, settings, tracking
from core.errors import RegistryError
from core.signature import INPUT_TYPES

MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))?/?$")
RUNS_URI = re.compile(r"runs:/(?P<run_id>[0-9a-f]{32})/model/?")
STORE_ONLY = "models load only from this tracking store: give models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model"
SAVE_HINT = "save one with 'Save threshold' on the Diagnostics page, or pass --threshold T"


@dataclass
class Scorer:
    """A model to score with: its registered version and run when it has them, loaded on demand."""

    uri: str  # as given
    load_uri: str  # a registered version pinned by number, so a moving alias cannot change the model mid-run
    name: str | None = None
    version: int | None = None
    run_id: str | None = None
    version_tags: dict = field(default_factory=dict)
    run_tags: dict = field(default_factory=dict)
    model: object = None  # mlflow.pyfunc.PyFuncModel

    def load(self) -> Scorer:
        if self.model is None:
            try:
                self.model = mlflow.pyfunc.load_model(self.load_uri)
            except (mlflow.exceptions.MlflowException, OSError) as err:
                raise RegistryError(f"Cannot load model {self.uri}: {mlflow_error(err)}") from None
        return self

    def inputs(self) -> dict[str, tuple[str, bool]]:
        """Input column -> (signature type, required), from the model signature."""
        schema = self.load().model.metadata.get_input_schema()
        if schema is None or not schema.has_input_names():
            raise RegistryError(f"Model {self.uri} has no named input signature, so its input columns are unknown; log it with one.")
        return {spec.name: (getattr(spec.type, "name", str(spec.type)), spec.required) for spec in schema.inputs}

    def trained_types(self) -> dict[str, str]:
        """Input column -> its DuckDB type at training, from the model's metadata (empty for models logged before)."""
        return dict((self.load().model.metadata.metadata or {}).get(INPUT_TYPES) or {})

    def threshold(self, override: float | None = None) -> tuple[float, str]:
        """(threshold, where it came from): the override, else the version's saved one, else its run's."""
        if override is not None:
            found = (override, "--threshold")
        else:
            found = self._saved("version", self.version_tags) or self._saved("run", self.run_tags)
        if found is None:
            raise RegistryError(f"No saved threshold for {self.uri} (on the version or its run): {SAVE_HINT}.")
        cut, source = found
        if not 0.0 <= cut <= 1.0:
            raise RegistryError(f"Threshold {cut:g} ({source}) is not a probability between 0 and 1.")
        return float(cut), source

    def _saved(self, source: str, tags: dict) -> tuple[float, str] | None:
        try:
            saved = runs.saved_threshold(tags)
        except ValueError:
            raise RegistryError(
                f"The {source} tag {runs.THRESHOLD_TAGS['threshold']} of {self.uri} is not a number; {SAVE_HINT}."
            ) from None
        return (saved["threshold"], source) if saved else None


def mlflow_error(err: Exception) -> str:
    return str(getattr(err, "message", err)).strip().splitlines()[0]


def _registry_version(client, name: str, alias: str | None, version: str | None):
    """The model version a models:/ URI names, or a RegistryError that lists what exists."""
    try:
        model = client.get_registered_model(name)
    except mlflow.exceptions.MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(f"Cannot read the registry at {client.tracking_uri}: {mlflow_error(err)}") from None
        known = ", ".join(sorted(m.name for m in client.search_registered_models())) or "none yet"
        raise RegistryError(f"No registered model {name!r} in {client.tracking_uri}; registered models: {known}.") from None
    if alias is not None:
        if alias not in (model.aliases or {}):
            known = ", ".join(sorted(model.aliases or {})) or "none yet"
            raise RegistryError(f"Registered model {name!r} has no alias {alias!r}; its aliases: {known} (set them in the Registry page).")
        return client.get_model_version_by_alias(name, alias)
    numbers = sorted(int(v.version) for v in client.search_model_versions(f"name = '{model.name.replace(chr(39), '')}'"))
    if version in (None, "latest") and numbers:
        version = str(numbers[-1])
    if not version or not version.isdigit() or int(version) not in numbers:
        raise RegistryError(
            f"Registered model {name!r} has no version {version!r}; its versions: {', '.join(map(str, numbers)) or 'none'}."
        )
    return client.get_model_version(name, version)


def _stored_here(client, location: str) -> bool:
    """Whether a model version's files lie in this store: under the local artifact root, or on the tracking server."""
    if location.startswith("file:"):
        location = location.removeprefix("file:").removeprefix("//")
    elif re.match(r"^[a-z][a-z0-9+.-]*:", location):  # a URL: only a tracking server's own artifact store is its to vouch for
        return client.tracking_uri.startswith(("http://", "https://", "databricks"))
    return Path(location).resolve().is_relative_to(settings.artifact_root())


def require_stored_here(mv) -> None:
    """A RegistryError unless a registered version's files lie in this tracking store (a version can be registered from anywhere)."""
    client = tracking.client()
    if not _stored_here(client, client.get_model_version_download_uri(mv.name, mv.version)):
        raise RegistryError(f"Version {mv.version} of {mv.name!r} points outside this tracking store ({mv.source}); {STORE_ONLY}.")


def resolve(uri: str) -> Scorer:
    """What a model URI of this tracking store names: registered version, run and their tags. Any other URI (a path,
    file://, s3://, another store's run) is a RegistryError: loading a model runs its code, so only the store's own load."""
    client = tracking.client()
    uri = str(uri).strip()
    scorer = Scorer(uri=uri, load_uri=uri)
    found = MODELS_URI.match(uri)
    if found_run := RUNS_URI.fullmatch(uri):
        scorer.run_id = found_run["run_id"]
    elif found and found["name"].startswith("m-") and not (found["alias"] or found["version"]):  # models:/m-… is a logged model
        try:
            logged = client.get_logged_model(found["name"])
        except mlflow.exceptions.MlflowException:
            raise RegistryError(f"No logged model {found['name']!r} in {client.tracking_uri}.") from None
        if not _stored_here(client, logged.artifact_location):
            raise RegistryError(f"Logged model {found['name']!r} points outside this tracking store; {STORE_ONLY}.")
        scorer.run_id = logged.source_run_id
    elif found:
        mv = _registry_version(client, found["name"], found["alias"], found["version"])
        require_stored_here(mv)
        scorer.name, scorer.version, scorer.run_id, scorer.version_tags = mv.name, int(mv.version), mv.run_id, dict(mv.tags or {})
        scorer.load_uri = f"models:/{mv.name}/{mv.version}"
    else:
        raise RegistryError(f"Cannot load model {uri!r}: {STORE_ONLY}.")
    if scorer.run_id:
        try:
            scorer.run_tags = dict(client.get_run(scorer.run_id).data.tags)
        except mlflow.exceptions.MlflowException:
            if found_run:
                raise RegistryError(f"No run {scorer.run_id!r} in {client.tracking_uri}; check the run id in {uri}.") from None
            # A registered version whose run was deleted: only its version tags or --threshold can give a cut.
    return scorer
