"""Model specification: validation and dict / JSON / YAML round trips."""

import pytest

import mlmix_pymc as mm
from mlmix_pymc.spec import ClassVariable, Constraints, Indicator, ModelSpec


def _spec():
    return ModelSpec(
        class_variables=(ClassVariable("c1", 2, covariates=("x",)), ClassVariable("c2", 2, depends_on="c1")),
        indicators=(Indicator("u1", "binary", "probit", "c1"), Indicator("u2", "ordinal", "logit", "c1"),
                    Indicator("y1", "normal", class_variable="c2", variance="class-equal"),
                    Indicator("u3", class_variable="c2")),
        constraints=Constraints(fixed={"u1$1|c1#1": 1.5}, equal=(("[c1#1]", "[c2#1]"),)),
        data="file.csv",
        analysis={"starts": [10, 2], "seed": 3},
    )


def test_round_trip_dict_json_yaml():
    spec = _spec()
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert ModelSpec.from_yaml(spec.to_yaml()) == spec


def test_yaml_is_read_with_safe_loader():
    text = "class_variables: !!python/object/apply:os.system ['echo hacked']\nindicators: [u1]\n"
    with pytest.raises(mm.SpecificationError, match="YAML"):
        ModelSpec.from_yaml(text)


def test_unknown_key_is_named():
    with pytest.raises(mm.SpecificationError, match="n_clases"):
        ModelSpec.from_dict({"class_variables": [{"name": "c", "n_clases": 2}], "indicators": ["u1"]})


def test_n_classes_below_one():
    with pytest.raises(mm.SpecificationError, match="n_classes .* >= 1, got 0"):
        ClassVariable("c", 0)


def test_duplicate_indicator_names():
    with pytest.raises(mm.SpecificationError, match="duplicate indicator name 'u1'"):
        ModelSpec((ClassVariable("c", 2),), (Indicator("u1"), Indicator("u1")))


def test_duplicate_class_variable_names():
    with pytest.raises(mm.SpecificationError, match="duplicate class variable name 'c'"):
        ModelSpec((ClassVariable("c", 2), ClassVariable("c", 3)), (Indicator("u1"),))


def test_bad_family_and_link_are_named():
    with pytest.raises(mm.SpecificationError, match="family of indicator 'u1'.*'gamma'"):
        Indicator("u1", family="gamma")
    with pytest.raises(mm.SpecificationError, match="link of indicator 'u1'.*'cloglog'"):
        Indicator("u1", link="cloglog")


def test_depends_on_must_precede():
    with pytest.raises(mm.SpecificationError, match="must be listed before"):
        ModelSpec((ClassVariable("c1", 2, depends_on="c2"), ClassVariable("c2", 2)),
                  (Indicator("u1", class_variable="c1"), Indicator("u2", class_variable="c2")))


def _two_level_spec(**kw):
    from mlmix_pymc.spec import RandomEffect

    base = dict(
        class_variables=(ClassVariable("cb", 2, level="between", covariates=("w",)),
                         ClassVariable("c", 2, random_intercept=True, depends_on="cb")),
        indicators=(Indicator("y", "normal", class_variable="cb", covariates=("x",)), Indicator("u1")),
        random_effects=(RandomEffect("u", "intercept", ("y",), on=("w",)),
                        RandomEffect("s", "slope", ("y",), covariate="x", on=("u",))),
        cluster="school", random_by_class=True, random_covariance="diagonal",
    )
    base.update(kw)
    return ModelSpec(**base)


def test_two_level_round_trip():
    spec = _two_level_spec()
    assert ModelSpec.from_yaml(spec.to_yaml()) == spec
    assert spec.cluster_covariates == ("w",)
    assert spec.covariates == ("w", "x")


@pytest.mark.parametrize("change, message", [
    ({"cluster": None}, "needs a cluster column"),
    ({"random_covariance": "banded"}, "random_covariance must be one of"),
    ({"class_variables": (ClassVariable("c", 2),), "random_by_class": True,
      "indicators": (Indicator("y", "normal", covariates=("x",)),), "random_effects": ()},
     "random_by_class=True needs a between-level class variable"),
])
def test_two_level_spec_errors_are_named(change, message):
    with pytest.raises(mm.SpecificationError, match=message):
        _two_level_spec(**change)


def test_random_slope_needs_the_items_covariate():
    from mlmix_pymc.spec import RandomEffect

    with pytest.raises(mm.SpecificationError, match="covariate 'z' is not among the covariates of indicator 'y'"):
        _two_level_spec(random_effects=(RandomEffect("s", "slope", ("y",), covariate="z"),))
    with pytest.raises(mm.SpecificationError, match="names unknown indicator 'q'"):
        _two_level_spec(random_effects=(RandomEffect("s", "intercept", ("q",)),))


def test_yaml_key_on_is_not_a_boolean():
    """YAML 1.1 reads `on` as True; the spec reader keeps it the key of a between regression."""
    text = ("cluster: school\nclass_variables: [{name: c, n_classes: 2}]\n"
            "indicators: [{name: y, family: normal, covariates: [x]}]\n"
            "random_effects:\n  - {name: u, target: intercept, indicators: [y], on: [w]}\n"
            "random_by_class: false\n")
    spec = ModelSpec.from_yaml(text)
    assert spec.random_effects[0].on == ("w",) and spec.random_by_class is False
    assert ModelSpec.from_yaml(spec.to_yaml()) == spec


def test_spec_with_factors_and_new_families_round_trips_yaml():
    from mlmix_pymc.spec import Factor

    spec = ModelSpec((ClassVariable("c", 2),),
                     (Indicator("u1"), Indicator("u2"), Indicator("k", "poisson"), Indicator("n", "nominal")),
                     factors=(Factor("f", ("u1", "u2", "k"), "class-specific"),))
    again = ModelSpec.from_yaml(spec.to_yaml())
    assert again == spec
    with pytest.raises(mm.SpecificationError, match="indicator 'n' of family 'nominal' cannot load on a factor"):
        ModelSpec((ClassVariable("c", 2),), (Indicator("u1"), Indicator("n", "nominal")),
                  factors=(Factor("f", ("u1", "n")),))
    with pytest.raises(mm.SpecificationError, match="factor 'f' names unknown indicator 'zz'"):
        ModelSpec((ClassVariable("c", 2),), (Indicator("u1"),), factors=(Factor("f", ("u1", "zz")),))
