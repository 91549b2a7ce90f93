"""model-provisioner: make sure the model a worker needs is here, whole and correct."""
