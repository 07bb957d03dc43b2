"""The built-in prompt files (`<name>.<language>.toml`); a package so they ship as package data."""
