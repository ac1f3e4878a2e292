# Sourced by the scripts: offline, no telemetry, quiet TensorFlow, the venv first on PATH.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export RASA_TELEMETRY_ENABLED=false
export TF_CPP_MIN_LOG_LEVEL=2
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::DeprecationWarning}"
export PATH="$PWD/.venv/bin:$PATH"
