"""The shipped Walloon commune reference and INS code checks."""

import pytest

from omv_pipelines.catalog.communes import UnknownCommune, all_communes, current_communes, lookup, slugify


def test_reference_has_every_walloon_commune_before_and_after_the_2025_merger():
    assert len(all_communes()) == 263  # 262 until 2024 + Bastogne 82039 since 2025
    assert len(current_communes()) == 261
    provinces = {c.province for c in current_communes().values()}
    assert provinces == {"Brabant wallon", "Hainaut", "Liège", "Luxembourg", "Namur"}


@pytest.mark.parametrize(
    "code, name", [("92094", "Namur"), ("62063", "Liège"), ("53053", "Mons"), ("82039", "Bastogne")]
)
def test_lookup_current_commune(code, name):
    assert lookup(code).name == name


def test_retired_code_names_its_successor():
    with pytest.raises(UnknownCommune, match=r"82005 \(Bertogne\) was retired .* use 82039 \(Bastogne\)"):
        lookup("82005")


@pytest.mark.parametrize(
    "code, message",
    [
        ("11002", "not a Walloon commune"),  # Antwerp: matches ^\d{5}$ but is Flemish
        ("21004", "not a Walloon commune"),  # Brussels
        ("9209", "expected 5 digits"),
        ("Namur", "expected 5 digits"),
    ],
)
def test_codes_that_are_not_walloon_communes(code, message):
    with pytest.raises(UnknownCommune, match=message):
        lookup(code)


def test_slug_is_ascii_and_dash_separated():
    assert slugify("Braine-l'Alleud") == "braine-l-alleud"
    assert slugify("Écaussinnes") == "ecaussinnes"
    assert lookup("62063").slug == "liege"
