"""Checks of the source bank, both blocking: no arc may be painted from a noise-dominated bank."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dhs_assets.bank.assets import source_bank
from dhs_assets.metadata import latest_metadata, plain
from dhs_assets.resources import DataRoot, SourceBank
from dhs_core.bank import open_bank
from dhs_core.bank.validation import not_noise, template_checks


def _metadata(ok_details) -> dict:
    return {k: plain(v) for k, v in ok_details[1].items()}


@asset_check(
    asset=source_bank,
    blocking=True,
    description=(
        "Every template plane sums to 1 (1e-4), has a finite centroid within 3 pixels of the stamp centre and a "
        "measured half-light radius inside the configured range."
    ),
)
def bank_templates_valid(
    context: AssetCheckExecutionContext, data_root: DataRoot, bank: SourceBank
) -> AssetCheckResult:
    parameters = latest_metadata(context.instance, source_bank.key).get("parameters", {})
    with open_bank(bank.file(data_root.path)) as opened:
        result = template_checks(opened, tuple(parameters.get("hlr_range", (0.05, 0.5))))
    return AssetCheckResult(passed=result[0], metadata=_metadata(result))


@asset_check(
    asset=source_bank,
    blocking=True,
    description=(
        "The bank is made of galaxies, not noise: its median half-light radius is under 0.2 of the stamp side "
        "(a flat or pure-noise stamp gives 0.40; the original's bank 0.37) and its median concentration above 2."
    ),
)
def bank_not_noise(data_root: DataRoot, bank: SourceBank) -> AssetCheckResult:
    with open_bank(bank.file(data_root.path)) as opened:
        result = not_noise(opened)
    return AssetCheckResult(passed=result[0], metadata=_metadata(result))


BANK_CHECKS = [bank_templates_valid, bank_not_noise]
