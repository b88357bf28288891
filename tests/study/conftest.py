import pytest


@pytest.fixture(scope="session")
def small_cohort():
    """Ten simulated cases (5 lung, 5 other), shared by the study tests."""
    from dcemets.simulate import simulate_cohort

    comp = {"lung": 5, "thyroid": 2, "breast": 2, "kidney": 1}
    return simulate_cohort(composition=comp, rng=7, n_jobs=1, progress=False)
