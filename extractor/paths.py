"""Where the repository's data folders are: the one place that knows the package sits in the repository root.

The shipped schemas, pipelines and migrations are data beside the package, not inside it, so a checkout
(or an editable install) finds them here.
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = REPO_ROOT / "schemas"
PIPELINES_DIR = REPO_ROOT / "pipelines"
MIGRATIONS_DIR = REPO_ROOT / "migrations"
PRODUCT_SCHEMA = SCHEMAS_DIR / "resume.yaml"
