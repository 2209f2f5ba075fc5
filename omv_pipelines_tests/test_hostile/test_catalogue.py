"""A commune's catalogue file is untrusted input (#11): each hostile case is refused at load time, with
a message naming the file, the key and what to do, and nothing is written outside the export folder."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from omv_pipelines.catalog import loader
from omv_pipelines.catalog.loader import (
    MAX_FILE_BYTES,
    Catalog,
    CatalogError,
    find_entry,
    load_catalog,
    load_file,
)
from omv_pipelines.cli import main
from omv_pipelines.defs.resources import CatalogResource
from omv_pipelines.publish.export import export_dataset

DAE = "resilience/defibrillateurs"
NAMUR = """
ins_code: "92094"
name: Namur
datasets:
  resilience/defibrillateurs:
    source: {kind: spreadsheet, path: dae.csv}
"""
LIEGE = NAMUR.replace("92094", "62063").replace("Namur", "Liège")


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def with_dataset(text: str, line: str) -> str:
    """`text` with one more key under its resilience/defibrillateurs dataset."""
    return textwrap.dedent(text) + f"    {line}\n"


def publish_everything(catalog: Catalog, export_dir: Path) -> None:
    """What publishing does with each loaded dataset's id: write it into the export folder."""
    for entry in catalog.entries.values():
        for key in entry.config.datasets:
            dataset_id = entry.config.dataset_id(key)
            export_dataset(export_dir, dataset_id, b"id\r\n1\r\n", content_hash="x", row_count=1, metadata={})


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def refusal(path: Path) -> str:
    with pytest.raises(CatalogError) as error:
        load_file(path)
    message = str(error.value)
    assert str(path) in message
    return message


# 1 — a dataset id is a file name and a portal id: strict pattern on the final, rendered id ---------------


@pytest.mark.parametrize(
    "line, key, shown",
    [
        ("dataset_id: ../../../escaped", f"datasets.{DAE}.dataset_id", "'../../../escaped'"),
        (
            "dataset_id: '{commune}/../../{dataset}'",
            f"datasets.{DAE}.dataset_id",
            "'namur/../../defibrillateurs'",
        ),
        ("dataset_id: Namur-DAE", f"datasets.{DAE}.dataset_id", "'Namur-DAE'"),
        ("dataset_id: 'namur dae'", f"datasets.{DAE}.dataset_id", "'namur dae'"),
        ("dataset_id: '..'", f"datasets.{DAE}.dataset_id", "'..'"),
        ("dataset_id: '-namur'", f"datasets.{DAE}.dataset_id", "'-namur'"),
        (f"dataset_id: {'a' * 101}", f"datasets.{DAE}.dataset_id", f"'{'a' * 101}'"),
    ],
)
def test_dataset_id_outside_the_opendatasoft_pattern_is_refused(tmp_path, line, key, shown):
    catalog_dir, export_dir = tmp_path / "catalog", tmp_path / "data" / "export"
    path = write(catalog_dir, "92094-namur.yaml", with_dataset(NAMUR, line))
    write(catalog_dir, "62063-liege.yaml", LIEGE)
    message = refusal(path)
    assert f"{key}: " in message and f"{shown} is not a valid ODWB dataset id" in message
    assert "is not a valid ODWB dataset id: use only lowercase letters (a-z), digits, '-' and '_'" in message
    assert "use the default 'namur-defibrillateurs' (remove the override)" in message

    assert main(["validate", str(catalog_dir)]) == 1
    catalog = load_catalog(catalog_dir)
    assert list(catalog.entries) == ["62063"]
    publish_everything(catalog, export_dir)
    assert files_under(tmp_path) == {
        "catalog/62063-liege.yaml",
        "catalog/92094-namur.yaml",
        "data/export/liege-defibrillateurs.csv",
        "data/export/liege-defibrillateurs.metadata.json",
    }


def test_a_commune_template_yielding_a_bad_id_names_the_template_and_the_dataset(tmp_path):
    path = write(tmp_path, "92094-namur.yaml", NAMUR + "odwb: {dataset_id: '{commune}/{dataset}'}\n")
    message = refusal(path)
    assert (
        "odwb.dataset_id: the template '{commune}/{dataset}' gives 'namur/defibrillateurs' for "
        "resilience/defibrillateurs: 'namur/defibrillateurs' is not a valid ODWB dataset id" in message
    )


# 2 — one id, one commune: across the catalogue ------------------------------------------------------------


def test_a_commune_claiming_another_communes_id_is_refused_and_the_owner_kept(tmp_path):
    """Liège's file said `dataset_id: namur-…` and overwrote Namur's publication. By name order Liège
    (62063) comes first, so "refuse the later file" would have refused Namur: the id's owner is kept."""
    catalog_dir, export_dir = tmp_path / "catalog", tmp_path / "data" / "export"
    write(catalog_dir, "92094-namur.yaml", NAMUR)
    liege = write(catalog_dir, "62063-liege.yaml", with_dataset(LIEGE, "dataset_id: namur-defibrillateurs"))
    catalog = load_catalog(catalog_dir)
    assert list(catalog.entries) == ["92094"]
    [error] = catalog.errors
    assert str(error) == (
        f"{liege}: datasets.{DAE}.dataset_id: 'namur-defibrillateurs' (for {DAE}) is also claimed by "
        f"92094-namur.yaml ({DAE}); a dataset id is one commune's publication, so ids starting with "
        "'namur-' or '92094-' belong to Namur: give this dataset its own id (e.g. 'liege-defibrillateurs', "
        "the default)"
    )
    assert find_entry(catalog_dir, "92094").path.name == "92094-namur.yaml"
    with pytest.raises(KeyError, match="62063 is not in the catalogue .*also claimed by 92094-namur.yaml"):
        CatalogResource(folder=str(catalog_dir)).entry("62063")

    publish_everything(catalog, export_dir)
    assert files_under(export_dir) == {"namur-defibrillateurs.csv", "namur-defibrillateurs.metadata.json"}


def test_an_id_no_claimant_owns_refuses_every_claimant(tmp_path):
    namur = write(tmp_path, "92094-namur.yaml", with_dataset(NAMUR, "dataset_id: dae-wallonie-sud"))
    liege = write(tmp_path, "62063-liege.yaml", with_dataset(LIEGE, "dataset_id: dae-wallonie-sud"))
    catalog = load_catalog(tmp_path)
    assert catalog.entries == {}
    messages = [str(e) for e in catalog.errors]
    assert messages[0].startswith(
        f"{liege}: datasets.{DAE}.dataset_id: 'dae-wallonie-sud' (for {DAE}) is also"
    )
    assert f"claimed by 92094-namur.yaml ({DAE})" in messages[0]
    assert messages[1].startswith(f"{namur}: datasets.{DAE}.dataset_id: 'dae-wallonie-sud'")
    assert f"claimed by 62063-liege.yaml ({DAE})" in messages[1]
    assert all("neither file is published until one of them changes it" in m for m in messages)


# 3 — the regional datasets' and the scorecard's ids are not a commune's -----------------------------------


@pytest.mark.parametrize(
    "line, shown",
    [
        ("dataset_id: wallonie-defibrillateurs", "'wallonie-defibrillateurs'"),
        (
            "dataset_id: wallonie-ouvrir-ma-ville-tableau-de-bord",
            "'wallonie-ouvrir-ma-ville-tableau-de-bord'",
        ),
        ("dataset_id: 'wallonie-{dataset}'", "'wallonie-defibrillateurs'"),
    ],
)
def test_reserved_wallonie_ids_are_refused(tmp_path, line, shown):
    path = write(tmp_path, "92094-namur.yaml", with_dataset(NAMUR, line))
    message = refusal(path)
    assert f"datasets.{DAE}.dataset_id: " in message
    assert (
        f"{shown} is reserved: ids starting with 'wallonie-' name the regional datasets and the scorecard "
        "('wallonie-ouvrir-ma-ville-tableau-de-bord'), never a commune's; use the default "
        "'namur-defibrillateurs' (remove the override)"
    ) in message


# 4 — a template is named fields substituted by a regex, never str.format ---------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{commune.__class__.__name__}",
        "{commune[99]}",
        "{commune:>100000}",
        "{commune!r}-{dataset}",
        "{{commune}}",
        "namur-{dataset",
        "namur-}{dataset}",
    ],
)
@pytest.mark.parametrize("where", ["odwb", "dataset"])
def test_template_with_anything_but_the_named_fields_is_refused(tmp_path, template, where):
    if where == "odwb":
        text, key = NAMUR + f"odwb: {{dataset_id: '{template}'}}\n", "odwb.dataset_id"
    else:
        text, key = with_dataset(NAMUR, f"dataset_id: '{template}'"), f"datasets.{DAE}.dataset_id"
    message = refusal(write(tmp_path, "92094-namur.yaml", text))
    assert f"{key}: " in message
    assert (
        "is not a placeholder: a template takes only {commune}, {ins_code}, {theme} and {dataset}" in message
    )
    assert "(no attribute, index, format spec or conversion)" in message
    assert "Commune" not in message and " " * 1000 not in message  # nothing was evaluated


def test_unknown_named_field_is_refused(tmp_path):
    message = refusal(write(tmp_path, "92094-namur.yaml", NAMUR + "odwb: {dataset_id: '{town}-{dataset}'}\n"))
    assert (
        "odwb.dataset_id: unknown placeholder {town}; use {commune}, {ins_code}, {theme} and {dataset}"
        in message
    )


# 5 — bounded before parsing: size, anchors/aliases, not a regular file -------------------------------------


def test_oversized_file_is_refused_before_parsing(tmp_path, monkeypatch):
    path = write(tmp_path, "92094-namur.yaml", NAMUR + "#" * MAX_FILE_BYTES + "\n")
    monkeypatch.setattr(loader, "parse_yaml", lambda text: pytest.fail("parsed an oversized file"))
    message = refusal(path)
    assert f"is {path.stat().st_size} bytes, more than the 256 KiB a catalogue file may have" in message
    assert "the data stays in the sources" in message


@pytest.mark.timeout(60)
def test_yaml_alias_bomb_is_refused_before_expansion(tmp_path):
    """A billion laughs under mapping.values passed `omv validate`, then took gigabytes. Run in a child
    process with 512 MB of address space and a 30 s timeout: refused, or it dies trying."""
    text = (
        textwrap.dedent(NAMUR)
        + "    mapping:\n      values:\n"
        + "".join(
            f"        {name}: &{name} [{', '.join([f'*{prev}' if prev else 'lol'] * 10)}]\n"
            for name, prev in zip("abcdefghi", ["", *"abcdefgh"], strict=True)
        )
    )
    path = write(tmp_path, "92094-namur.yaml", text)
    assert "*h, *h" in path.read_text(encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))
        from omv_pipelines.cli import main
        sys.exit(main(["validate", {str(tmp_path)!r}]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, env=os.environ | {}
    )
    assert done.returncode == 1, done.stderr
    assert f"ERROR  {path}: line 9, column 12: not valid YAML (YAML anchors and aliases" in done.stderr
    assert "are not accepted in a catalogue file; write each value out in full)" in done.stderr
    assert "0 commune(s) valid, 1 file(s) with errors" in done.stdout


def test_even_one_alias_or_merge_key_is_refused_with_its_line(tmp_path):
    text = NAMUR + "contact: &c {name: Cellule}\nodwb: {publisher: *c}\n"
    message = refusal(write(tmp_path, "92094-namur.yaml", text))
    assert "line 7, column 10: not valid YAML (YAML anchors and aliases (&name, *name, <<: *name)" in message
    merge = NAMUR + "contact: &c {name: Cellule}\nodwb:\n  <<: *c\n"
    assert "YAML anchors and aliases" in refusal(write(tmp_path, "92094-namur.yaml", merge))


def test_the_c_loader_is_used_when_libyaml_is_installed():
    if yaml.__with_libyaml__:
        assert issubclass(loader.CatalogueYamlLoader, yaml.CSafeLoader)
    assert issubclass(loader.CatalogueYamlLoader, (yaml.CSafeLoader, yaml.SafeLoader))
    assert loader.parse_yaml("a: [1, {b: c}]") == {"a": [1, {"b": "c"}]}


@pytest.mark.timeout(20)
def test_deep_nesting_and_devices_are_refused(tmp_path):
    deep = write(tmp_path, "92094-namur.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "not valid YAML" in refusal(deep) or "nested too deeply" in refusal(deep)
    device = tmp_path / "62063-liege.yaml"
    device.symlink_to("/dev/zero")
    assert "is not a regular file; a catalogue file is a plain YAML file" in refusal(device)
    fifo = tmp_path / "53053-mons.yaml"
    os.mkfifo(fifo)
    assert "is not a regular file" in refusal(fifo)  # opening it would block


# 6 — no credential in a catalogue url, allowed schemes and drivers only -------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "{kind: spreadsheet, url: 'https://omv:s3cret@example.org/dae.xlsx'}",
            "the url contains a user name or password: never write credentials in the catalogue; publish "
            "the file at a URL that needs none, or copy it next to the catalogue",
        ),
        (
            "{kind: spreadsheet, url: 'https://example.org/dae.xlsx?access_token=s3cret'}",
            "the url has secret-looking query parameter(s) access_token: never write credentials",
        ),
        (
            "{kind: spreadsheet, url: 'file:///etc/passwd.csv'}",
            "url must start with http:// or https:// (not file://); a file next to the catalogue is given "
            "with path",
        ),
        (
            "{kind: spreadsheet, url: 'ftp://example.org/dae.csv'}",
            "url must start with http:// or https:// (not ftp://)",
        ),
        (
            "{kind: wfs, url: 'https://omv:s3cret@example.org/ows', typename: dae}",
            "the url contains a user name or password: never write secrets in the catalogue; use "
            "username_env and password_env (HTTP Basic) or put the URL in an environment variable named "
            "by url_env",
        ),
        (
            "{kind: wfs, url: 'https://example.org/ows?authkey=s3cret', typename: dae}",
            "the url has secret-looking query parameter(s) authkey: never write secrets in the catalogue; "
            "put the URL in an environment variable named by url_env",
        ),
        (
            "{kind: wfs, url: 'file:///etc/ows', typename: dae}",
            "url must start with http:// or https:// (not file://)",
        ),
        (
            "{kind: sql, url: 'postgresql://omv:s3cret@db/omv', table: dae}",
            "the url contains a user name or password: never write secrets in the catalogue; put the URL in "
            "an environment variable and name it with url_env",
        ),
        (
            "{kind: sql, url: 'postgresql://db/omv?sslpassword=s3cret', table: dae}",
            "the url has secret-looking query parameter(s) sslpassword: never write secrets",
        ),
        (
            "{kind: sql, url: 'oracle://db/omv', table: dae}",
            "the url's driver 'oracle' is not accepted; use one of postgresql, postgresql+psycopg, "
            "postgresql+psycopg2, mysql, mysql+pymysql, mariadb, mariadb+pymysql, sqlite, sqlite+pysqlite",
        ),
        *[
            (
                f"{{kind: sql, url: '{url}', table: dae}}",
                "a sqlite url in the catalogue names a file inside the catalogue folder, by a relative path "
                "(e.g. sqlite:///{base_dir}/data/namur.sqlite, or sqlite:///:memory:): not an absolute path, "
                "a host, a file: URI or '..'",
            )
            for url in (
                "sqlite:////etc/omv.sqlite",
                "sqlite:///../../omv.sqlite",
                "sqlite:///{base_dir}/../omv.sqlite",
                "sqlite:///%2e%2e/omv.sqlite",
                "sqlite:///file:/etc/omv.sqlite?uri=true",
            )
        ],
    ],
)
def test_catalogue_urls_carry_no_credential_and_an_allowed_scheme(tmp_path, source, expected):
    message = refusal(
        write(tmp_path, "92094-namur.yaml", NAMUR.replace("{kind: spreadsheet, path: dae.csv}", source))
    )
    assert f"datasets.{DAE}.source.{source[7 : source.index(',')]}: {expected}" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    "url", ["sqlite:///{base_dir}/data/dae.sqlite", "sqlite:///data/dae.sqlite", "sqlite:///:memory:"]
)
def test_relative_sqlite_urls_are_accepted(tmp_path, url):
    text = NAMUR.replace("{kind: spreadsheet, path: dae.csv}", f"{{kind: sql, url: '{url}', table: dae}}")
    assert load_file(write(tmp_path, "92094-namur.yaml", text)).datasets[DAE].sources[0].url == url


# 7 — parsed once, and a commune's run reads only its own file ---------------------------------------------


def test_files_are_parsed_once_while_their_content_is_the_same(tmp_path, monkeypatch):
    write(tmp_path, "92094-namur.yaml", NAMUR)
    write(tmp_path, "62063-liege.yaml", LIEGE)
    write(tmp_path, "broken.yaml", "ins_code: [")
    parsed: list[str] = []
    real = loader._parse
    monkeypatch.setattr(loader, "_parse", lambda path, data: parsed.append(path.name) or real(path, data))
    first = load_catalog(tmp_path)
    second = load_catalog(tmp_path)
    assert sorted(parsed) == ["62063-liege.yaml", "92094-namur.yaml", "broken.yaml"]
    assert second.get("92094").config is first.get("92094").config
    assert [str(e) for e in second.errors] == [str(e) for e in first.errors]
    write(tmp_path, "92094-namur.yaml", NAMUR + "active: false\n")  # same path, new content: parsed again
    assert load_catalog(tmp_path).get("92094").config.active is False
    assert parsed.count("92094-namur.yaml") == 2


def test_a_communes_entry_reads_only_its_own_file(tmp_path, monkeypatch):
    write(tmp_path, "92094-namur.yaml", NAMUR)
    for code, name in [("62063", "liege"), ("53053", "mons")]:
        write(tmp_path, f"{code}-{name}.yaml", "# a large file\n" * 10_000)
    parsed: list[str] = []
    real = loader._parse
    monkeypatch.setattr(loader, "_parse", lambda path, data: parsed.append(path.name) or real(path, data))
    assert CatalogResource(folder=str(tmp_path)).entry("92094").path.name == "92094-namur.yaml"
    assert parsed == ["92094-namur.yaml"]


def test_entry_keeps_the_full_loads_choice_of_file(tmp_path):
    """Duplicate INS codes, files not named by code and misnamed files: the same file as the full load."""
    write(tmp_path, "92094-b.yaml", NAMUR + "active: false\n")
    write(tmp_path, "92094-a.yaml", NAMUR)
    misnamed = write(tmp_path, "53053-mons.yaml", NAMUR + "freshness_hours: 1\n")
    write(tmp_path, "62063-liege.yaml", LIEGE)
    write(tmp_path, "liege-copy.yaml", LIEGE + "freshness_hours: 2\n")
    full = load_catalog(tmp_path)
    for code in ("92094", "62063"):
        assert find_entry(tmp_path, code).path == full.get(code).path
    assert full.get("92094").path.name == "92094-a.yaml"
    assert (
        f"{misnamed}: ins_code: 92094 (Namur) does not match the file name, which starts with 53053: name "
        "the file '92094-namur.yaml' or fix the code" in [str(e) for e in full.errors]
    )
    assert any(
        "92094-b.yaml: ins_code: 92094 is already described by 92094-a.yaml" in str(e) for e in full.errors
    )
    # A file not named by code comes first here ('00-…' sorts before '92094-…'): it wins in both.
    write(tmp_path, "00-namur.yaml", NAMUR)
    assert (
        find_entry(tmp_path, "92094").path.name
        == load_catalog(tmp_path).get("92094").path.name
        == "00-namur.yaml"
    )
