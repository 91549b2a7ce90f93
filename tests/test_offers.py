"""info --remote: every quantization a repo offers, the default, the disk and the memory."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner import AuthError, ModelProvisioner
from model_provisioner._models import ModelMetadata
from model_provisioner._offers import HIVE_FACTOR, kv_cache_bytes, offers_of, worker_memory
from model_provisioner.cli import main
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

GB = 10**9
LLAMA_8B = ModelMetadata(  # Meta-Llama-3.1-8B's header
    parameter_count=8_030_261_248,
    block_count=32,
    embedding_length=4096,
    head_count=32,
    head_count_kv=8,
)
NOTHING = ModelMetadata()


def test_kv_cache_of_llama_3_8b_is_half_a_gigabyte_at_4096_tokens() -> None:
    assert kv_cache_bytes(LLAMA_8B, 4096) == 2 * 32 * 4096 * 8 * 128 * 2 == 536_870_912
    assert (
        kv_cache_bytes(dataclasses.replace(LLAMA_8B, head_count_kv=None), 4096) == 4 * 536_870_912
    )
    assert kv_cache_bytes(NOTHING, 4096) == 0


def test_memory_is_weights_cache_and_buffers_never_under_the_hive_rule() -> None:
    weights = int(4.92 * GB)
    assert worker_memory(weights, LLAMA_8B, 4096) == weights + 536_870_912 + weights // 10
    assert worker_memory(weights, NOTHING, 4096) == int(weights * HIVE_FACTOR)


def test_every_quant_once_split_parts_summed_ladder_order() -> None:
    files = {
        "m.Q8_0.gguf": 8 * GB,
        "m.F16.gguf": 16 * GB,
        "Q5_K_M/m-Q5_K_M-00001-of-00002.gguf": 3 * GB,
        "Q5_K_M/m-Q5_K_M-00002-of-00002.gguf": 2 * GB,
        "mmproj-m-f16.gguf": GB,
        "README.md": 10,
    }
    offers = offers_of(files, LLAMA_8B, free=10 * GB)
    assert [(o.quant, o.size, o.default, o.fits) for o in offers] == [
        ("Q8_0", 8 * GB, True, True),
        ("Q5_K_M", 5 * GB, False, True),
        ("F16", 16 * GB, False, False),
    ]
    assert offers[1].files == (
        "Q5_K_M/m-Q5_K_M-00001-of-00002.gguf",
        "Q5_K_M/m-Q5_K_M-00002-of-00002.gguf",
    )
    assert offers[0].bits_per_weight == round(8 * GB * 8 / 8_030_261_248, 2)
    chosen = offers_of(files, NOTHING, free=0, chosen="m.F16.gguf")
    assert [o.quant for o in chosen if o.default] == ["F16"]
    assert all(o.bits_per_weight is None and not o.fits for o in chosen)


@given(
    st.dictionaries(st.text(max_size=30), st.integers(0, 1 << 50), max_size=8),
    st.dictionaries(
        st.sampled_from(["parameter_count", "block_count", "embedding_length", "head_count"]),
        st.one_of(st.none(), st.integers(), st.text()),
    ),
)
def test_a_hostile_listing_or_header_never_crashes(files: dict[str, int], meta: dict) -> None:  # type: ignore[type-arg]
    for offer in offers_of(files, ModelMetadata.from_dict(meta), free=1 << 40):
        assert offer.size >= 0 and offer.memory >= offer.size


def test_info_remote_lists_the_offers(
    home: Path,
    hub_server: HubServer,
    fixture_hub: FixtureHub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_gguf_repo(fixture_hub, "org/Offer-GGUF", quants=("Q8_0", "Q4_K_M", "F16"))
    args = ["--home", str(home), "--endpoint", hub_server.url, "info", "--remote"]
    with pytest.raises(SystemExit) as done:
        main([*args, "--json", "org/Offer-GGUF"])
    data = json.loads(capsys.readouterr().out)
    assert done.value.code == 0 and data["memory_context"] == 4096
    offers = data["offers"]
    assert [(o["quant"], o["default"], o["fits_disk"]) for o in offers] == [
        ("Q4_K_M", True, True),
        ("Q8_0", False, True),
        ("F16", False, True),
    ]
    meta = data["metadata"]
    kv = kv_cache_bytes(ModelMetadata.from_dict(meta), 4096)
    assert kv > 0 and offers[0]["memory_estimate"] == max(
        offers[0]["size"] + kv + offers[0]["size"] // 10, int(offers[0]["size"] * HIVE_FACTOR)
    )
    with pytest.raises(SystemExit):
        main([*args, "--context", "8192", "org/Offer-GGUF:Q8_0"])
    out = capsys.readouterr().out
    assert "QUANT   " in out and "MEMORY@8192" in out and "\nQ8_0*  " in out
    assert "* what `provisioner pull org/Offer-GGUF:Q8_0` takes\n" in out


def test_a_gated_repo_is_an_auth_error_exit_6(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, "org/Gated-GGUF", quants=("Q4_K_M",), gated=True)
    with pytest.raises(AuthError):
        ModelProvisioner(home, endpoint=hub_server.url).remote_offers("org/Gated-GGUF")
    with pytest.raises(SystemExit) as done:
        main(["--endpoint", hub_server.url, "info", "--remote", "org/Gated-GGUF"])
    assert done.value.code == 6


def test_info_remote_output_whole(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every line of the text form (free disk aside: it moves while the suite runs)."""
    make_gguf_repo(fixture_hub, "org/Offer-GGUF", quants=("Q8_0", "Q4_K_M", "F16"))
    args = ["--home", str(home), "--endpoint", hub_server.url, "info", "--remote"]
    with pytest.raises(SystemExit):
        main([*args, "--json", "org/Offer-GGUF:Q8_0"])
    commit = json.loads(capsys.readouterr().out)["commit"]
    with pytest.raises(SystemExit) as done:
        main([*args, "--context", "8192", "org/Offer-GGUF:Q8_0"])
    captured = capsys.readouterr()
    out = re.sub(r"\nfree disk +\S+ \S+\n", "\nfree disk          FREE\n", captured.out)
    assert done.value.code == 0 and captured.err == ""
    assert out == (
        "reference          hf:org/Offer-GGUF:Q8_0\n"
        f"commit             {commit}\n"
        "format             gguf\n"
        "architecture       llama\n"
        "name               offer\n"
        "parameter_count    102720\n"
        "quantization       Q8_0\n"
        "dtype              F32\n"
        "context_length     2048\n"
        "embedding_length   64\n"
        "block_count        2\n"
        "head_count         4\n"
        "head_count_kv      4\n"
        "vocab_size         32\n"
        "has_chat_template  True\n"
        "tensor_count       19\n"
        "read               413.2 KB in 1 request\n"
        "free disk          FREE\n"
        "\n"
        "QUANT       SIZE    BPW  MEMORY@8192  FITS  FILES\n"
        "Q4_K_M  413.2 KB  32.18       4.6 MB  yes   offer.Q4_K_M.gguf\n"
        "Q8_0*   413.2 KB  32.18       4.6 MB  yes   offer.Q8_0.gguf\n"
        "F16     413.2 KB  32.18       4.6 MB  yes   offer.F16.gguf\n"
        "* what `provisioner pull org/Offer-GGUF:Q8_0` takes\n"
        "\n"
        "FILE                 SIZE  IN STORE\n"
        "offer.Q8_0.gguf  413.2 KB  no\n"
    )
