"""The fault-injection suite (a package, so its conftest and helpers never shadow those of tests/)."""
