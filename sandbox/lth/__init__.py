"""The sandbox harness's parts: channel, installers, loaders, probes. Imported before the go-line."""
