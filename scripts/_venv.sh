# Sourced by the other scripts: make sure .venv holds exactly what uv.lock pins for this project
# and its development tools, installing uv itself first when this machine has none of ours.
#
# uv.lock is the one lock every install path uses (these scripts, CI, the Dockerfile, the PaaS
# buildpack). `--locked` refuses to run when it and pyproject.toml disagree.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
# The uv these scripts use; the Dockerfile pins the same one (a test checks they agree).
UV_VERSION=0.13.9
UV_HOME="${UV_HOME:-$ROOT/.uv}"
UV="$UV_HOME/bin/uv"
if [ ! -x "$UV" ] || [ "$("$UV" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    "$PYTHON" -m venv --clear "$UV_HOME"
    "$UV_HOME/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
export UV_PROJECT_ENVIRONMENT="${VENV:-$ROOT/.venv}"
# Use the interpreter these scripts were given (any Python 3.11+), never a downloaded one.
export UV_PYTHON="$PYTHON" UV_PYTHON_DOWNLOADS=never
"$UV" sync --locked --quiet --project "$ROOT"
# Tests that build a production install from the lock use the same uv.
export PROJECT_UV="$UV"
export PATH="$UV_PROJECT_ENVIRONMENT/bin:$PATH"
cd "$ROOT"
