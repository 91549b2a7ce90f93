"""Reference grammar: valid ones round-trip to one canonical form, hostile ones are refused."""

from __future__ import annotations

import string
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from model_provisioner import InvalidReference, ModelReference, parse_reference
from model_provisioner._aliases import SEED
from model_provisioner._references import SelectorKind, classify_selector

part = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9_]|[.\-](?=[A-Za-z0-9_])){0,40}\Z")
revision = st.one_of(
    st.just("main"),
    st.from_regex(r"\A[0-9a-f]{40}\Z"),
    st.from_regex(r"\Av[0-9]{1,3}\.[0-9]{1,3}\Z"),
    st.from_regex(r"\Arefs/pr/[0-9]{1,4}\Z"),
)
quant = st.sampled_from(["Q4_K_M", "q8_0", "Q5_K_S", "F16", "bf16", "IQ2_XXS", "Q4_0"])
filename = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.\-]{0,30}\.(gguf|safetensors|json)\Z")
selector = st.one_of(st.none(), quant, filename, st.builds(lambda d, f: f"{d}/{f}", part, filename))


@given(part, part, revision, selector)
def test_valid_references_round_trip(org: str, name: str, rev: str, sel: str | None) -> None:
    text = f"{org}/{name}" + (f"@{rev}" if rev != "main" else "") + (f":{sel}" if sel else "")
    ref = parse_reference(text)
    assert ref.repo == f"{org}/{name}"
    assert ref.revision == rev
    assert parse_reference(ref.canonical) == ref
    assert parse_reference("hf:" + text) == ref
    assert parse_reference(ref.canonical).canonical == ref.canonical


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF", "hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"),
        ("hf:org/repo:q4_k_m", "hf:org/repo:Q4_K_M"),
        ("HF:org/repo@v1.0:Q8_0", "hf:org/repo@v1.0:Q8_0"),
        ("hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M", "hf:bartowski/Llama-3.2-1B-GGUF:Q4_K_M"),
        ("org/repo@main", "hf:org/repo"),
        ("org/repo:sub/dir/model.gguf", "hf:org/repo:sub/dir/model.gguf"),
        ("org/repo:*.Q4_K_M-*.gguf", "hf:org/repo:*.Q4_K_M-*.gguf"),
        (
            "https://huggingface.co/org/repo/resolve/main/model.Q4_K_M.gguf",
            "hf:org/repo:model.Q4_K_M.gguf",
        ),
        ("https://huggingface.co/org/repo/blob/v2/a/b.json", "hf:org/repo@v2:a/b.json"),
        ("https://huggingface.co/org/repo", "hf:org/repo"),
        ("https://huggingface.co/org/repo/tree/dev", "hf:org/repo@dev"),
        ("  org/repo  ", "hf:org/repo"),
    ],
)
def test_canonical_forms(text: str, expected: str) -> None:
    assert parse_reference(text).canonical == expected


def test_aliases_resolve_and_unknown_is_an_error() -> None:
    ref = parse_reference("tinyllama", SEED)
    assert ref.repo == "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"
    assert ref.selector == "Q4_K_M"
    assert parse_reference("QWEN", SEED).repo == "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
    assert parse_reference("qwen:Q8_0", SEED).selector == "Q8_0"
    with pytest.raises(InvalidReference, match="unknown model alias 'nosuchmodel'"):
        parse_reference("nosuchmodel", SEED)
    with pytest.raises(InvalidReference, match=r"did you mean 'tinyllama'\?"):
        parse_reference("tinylama", SEED)


def test_seeded_aliases_are_quantized_gguf_or_plain_safetensors() -> None:
    for name, target in SEED.items():
        ref = parse_reference(target, {})
        if name in ("gpt2", "granite"):
            assert ref.selector is None, name  # safetensors repos, as in the original table
        elif name.endswith("-fp16"):
            assert ref.selector == "FP16", name
        else:
            assert ref.repo.lower().endswith("gguf") and "fp16" not in target.lower(), name
            assert ref.selector in ("Q4_K_M", "Phi-3-mini-4k-instruct-q4.gguf"), name


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "org",
        "/etc/passwd",
        "../../etc",
        "org/..",
        "org/../x",
        "../org/repo",
        "org/repo/extra",
        "org/repo:../../etc/passwd",
        "org/repo:/etc/passwd",
        "org/repo:a/../b",
        "org/repo:a//b",
        "https://huggingface.co/org/repo/resolve/main/%00a.gguf",
        "https://huggingface.co/org/repo/resolve/main/a%0a.gguf",
        "org/repo@../main",
        "org/repo@",
        "org/repo:",
        "org/re po",
        "org/repo;rm -rf /",
        "org/repo:$(reboot)",
        "org/repo:`id`",
        "org/repo:a|b",
        "org/repo:a&b",
        "org\x00/repo",
        "org/repo\n",
        "org/re\tpo",
        "-org/repo",
        "org/repo-",
        "org/re--po",
        "ftp://huggingface.co/org/repo",
        "https://evil.example/org/repo",
        "s3:org/repo",
        "org/" + "a" * 97,
        "a/" + "b" * 600,
    ],
)
def test_hostile_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidReference) as err:
        parse_reference(text, SEED)
    message = str(err.value)
    assert "\n" not in message and 0 < len(message) < 300


hostile_char = st.sampled_from(["\x00", "\x01", "\x1b", "\x7f", ";", "|", "&", "$", "`", "<", ">"])


@settings(max_examples=200)
@given(part, part, hostile_char, st.integers(0, 2))
def test_any_metacharacter_is_refused(org: str, name: str, bad: str, where: int) -> None:
    pieces = [org, name, "model.gguf"]
    pieces[where] = pieces[where] + bad
    with pytest.raises(InvalidReference):
        parse_reference(f"{pieces[0]}/{pieces[1]}:{pieces[2]}")


@dataclass(frozen=True)
class Written:
    """A reference as a person might type it, and what it must parse to."""

    text: str
    repo: str
    revision: str
    selector: str | None


url_revision = st.one_of(st.just("main"), st.from_regex(r"\A[0-9a-f]{40}\Z"), st.just("v1.0"))
path = st.one_of(filename, st.builds(lambda d, f: f"{d}/{f}", part, filename))
glob = st.builds(lambda q: f"*{q}*.gguf", quant)
spaces = st.sampled_from(["", " ", "  "])


@st.composite
def written_references(draw: st.DrawFn) -> Written:
    """Every spelling the grammar accepts: bare, ``hf:`` in any case, ``hf.co/``, Hub URLs
    (resolve, blob, tree), with revisions, quant tags, paths and globs, padded by spaces."""
    repo = f"{draw(part)}/{draw(part)}"
    form = draw(st.sampled_from(["bare", "prefix", "hf.co", "resolve", "blob", "tree", "repo-url"]))
    if form in ("bare", "prefix"):
        rev = draw(revision)
        sel = draw(st.one_of(selector, glob))
        text = repo + (f"@{rev}" if rev != "main" else "") + (f":{sel}" if sel else "")
        if form == "prefix":
            text = draw(st.sampled_from(["hf:", "HF:", "Hf:"])) + text
    elif form == "hf.co":
        rev, sel = "main", draw(st.one_of(st.none(), quant, path))
        text = f"hf.co/{repo}" + (f":{sel}" if sel else "")
    elif form == "tree":
        rev, sel = draw(url_revision), None
        text = f"https://huggingface.co/{repo}/tree/{rev}"
    elif form == "repo-url":
        rev, sel = "main", None
        text = f"https://huggingface.co/{repo}"
    else:
        rev, sel = draw(url_revision), draw(path)
        text = f"https://huggingface.co/{repo}/{form}/{rev}/{sel}"
    pad = draw(spaces)
    return Written(pad + text + pad, repo, rev, sel)


def test_generated_references_mostly_parse_and_round_trip() -> None:
    """The round-trip checks run on real references: at least 9 in 10 generated ones parse
    (random text parsed 7 times in 5,000, so these checks almost never ran)."""
    outcomes: Counter[str] = Counter()

    @settings(max_examples=400, database=None)
    @given(written_references())
    def check(written: Written) -> None:
        try:
            ref = parse_reference(written.text)
        except InvalidReference:
            outcomes["refused"] += 1
            event("refused")
            return
        outcomes["parsed"] += 1
        event("parsed")
        assert (ref.repo, ref.revision) == (written.repo, written.revision)
        if written.selector is None or classify_selector(written.selector) is SelectorKind.QUANT:
            assert (ref.selector or "").upper() == (written.selector or "").upper()
        else:
            assert ref.selector == written.selector
        assert parse_reference(ref.canonical) == ref
        assert parse_reference(ref.canonical).canonical == ref.canonical

    check()
    assert outcomes["parsed"] >= 0.9 * sum(outcomes.values()), outcomes


hostile_edit = st.sampled_from(
    ["..", "/..", "../", "\x00", "\x1b", ";", "|", "&", "$(", "`", "\\", "//", "\n", "<", "%00"]
)


@settings(max_examples=300)
@given(written_references(), hostile_edit, st.integers(0, 1000))
def test_a_hostile_edit_of_a_real_reference_is_refused_or_harmless(
    written: Written, bad: str, at: int
) -> None:
    """Kept apart from the valid ones: one hostile insertion anywhere in a real reference."""
    position = at % (len(written.text) + 1)
    text = written.text[:position] + bad + written.text[position:]
    try:
        ref = parse_reference(text, SEED)
    except InvalidReference as exc:
        event("refused")
        assert "\n" not in str(exc) and 0 < len(str(exc)) < 400
        return
    event("parsed (the edit landed somewhere harmless)")
    assert ".." not in ref.repo.split("/") and not ref.repo.startswith("/")
    assert not set(ref.repo) & set(";|&$`<>\\\x00\n")
    assert ref.selector is None or ".." not in ref.selector.split("/")
    assert parse_reference(ref.canonical) == ref


@given(st.text(alphabet=string.printable + "\x00\x01é", max_size=700))
def test_anything_parses_or_fails_cleanly(text: str) -> None:
    try:
        ref = parse_reference(text, SEED)
    except InvalidReference as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(ref, ModelReference)
    assert ".." not in ref.repo and not ref.repo.startswith("/")
    assert ref.selector is None or ".." not in ref.selector.split("/")
    assert parse_reference(ref.canonical) == ref


def test_overlong_reference_is_refused_with_its_length() -> None:
    with pytest.raises(InvalidReference, match="at most 512"):
        parse_reference("org/repo:" + "a" * 600)


def test_repo_ids_match_without_case() -> None:
    a = parse_reference("TheBloke/Model-GGUF:Q4_K_M")
    b = parse_reference("thebloke/model-gguf:q4_k_m")
    assert a.matches(b) and a != b


def test_imported_providers_parse_and_round_trip() -> None:
    ollama = parse_reference("ollama:library/llama3")
    assert (ollama.provider, ollama.repo, ollama.revision) == ("ollama", "library/llama3", "latest")
    assert ollama.canonical == "ollama:library/llama3@latest"
    assert parse_reference(ollama.canonical) == ollama
    local = parse_reference("local:me/minilm")
    assert (local.provider, local.revision, local.canonical) == ("local", "main", "local:me/minilm")
    with pytest.raises(InvalidReference, match="unknown provider"):
        parse_reference("docker:ai/smollm2")
