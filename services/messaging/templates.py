"""Message templates: the catalog, sandboxed rendering in the debtor's language, and the lint that refuses
unsafe templates. One implementation for the channel workers (SMS, email) and the webhooks service (the
voice menu, rendered when a call is answered), so both speak the same words from the same files.

Layout under the templates root (``deploy/templates``): ``catalog.toml`` names every template, the
channels it exists on and the variables it may use; ``<locale>/locale.toml`` holds that locale's rules
(opt-out wording, forbidden phrases, what money looks like, the voice); ``<locale>/<channel>/<template>.
<part>.j2`` are the Jinja templates themselves.
"""

from __future__ import annotations

import html
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.vocab import Channel, TemplateTag
from services.core.settings import ConfigError, format_errors

# What each channel renders; a template may name other parts in the catalog (the keypad prompts).
PARTS: dict[Channel, tuple[str, ...]] = {
    Channel.SMS: ("body",),
    Channel.EMAIL: ("subject", "text", "html"),
    Channel.VOICE: ("menu", "voicemail"),
}
# Read or heard before anyone has proved to be the debtor: nothing may reveal the debt (limited content).
LIMITED_CONTENT = frozenset({(Channel.SMS, "body"), (Channel.VOICE, "menu"), (Channel.VOICE, "voicemail")})
# A template tagged debt_advice carries the referral line in every part the debtor reads or hears when they
# answer. Not in a voicemail, which whoever plays the machine may hear.
DEBT_ADVICE_PARTS = frozenset(
    {(Channel.SMS, "body"), (Channel.EMAIL, "text"), (Channel.EMAIL, "html"), (Channel.VOICE, "menu")}
)
# Every text and email carries the way to opt out (Regulation F 1006.6(e)).
OPT_OUT_PARTS = {
    (Channel.SMS, "body"): "sms",
    (Channel.EMAIL, "text"): "email",
    (Channel.EMAIL, "html"): "email",
}
# A run of this many digits in a template's own text could be an account or card number.
ACCOUNT_NUMBER_DIGITS = 5
# Parts that are one line of text (an SMS, a subject, speech): whitespace from the template's layout goes.
_ONE_LINE = frozenset({"body", "subject", "menu", "voicemail", "promise", "transfer", "goodbye"})
_DIGIT_RUN = re.compile(rf"\d{{{ACCOUNT_NUMBER_DIGITS},}}")
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
M = TypeVar("M", bound=BaseModel)


class TemplateError(ConfigError):
    """The templates cannot be used: the message names each file and what is wrong with it."""


class RenderError(TemplateError):
    """One message could not be rendered (unknown template, missing variable): a permanent failure."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing the lint found, in the file it found it in."""

    file: Path
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


class TemplateSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    channels: Annotated[list[Channel], Field(min_length=1)]
    # Variable names, or ``@set`` for a whole set from ``variable_sets``.
    variables: list[str] = []
    parts: dict[Channel, list[Name]] = {}
    # What the template is fit for; the gatekeeper decides on them, the lint checks that they hold.
    tags: frozenset[TemplateTag] = frozenset()


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_locale: str
    # A language served in another locale than its own language's default: ``{"en-IE" = "en-GB"}``.
    fallbacks: dict[str, str] = {}
    variable_sets: dict[Name, list[Name]] = {}
    # Added by the sender itself, whatever the template: the company name, the callback number.
    platform_variables: list[Name] = []
    channel_variables: dict[Channel, list[Name]] = {}
    money_variables: list[Name] = []
    # The only variables, besides the platform's and the channel's, that a limited_content template may use.
    limited_variables: list[Name] = []
    samples: dict[Name, str] = {}
    templates: dict[Name, TemplateSpec]

    @classmethod
    def load(cls, root: Path) -> Catalog:
        """The catalog alone (what the gatekeeper needs); ``TemplateError`` names the file and the problem."""
        problems: list[Problem] = []
        catalog = _read_model(root / "catalog.toml", cls, problems)
        if catalog is None:
            raise TemplateError("; ".join(str(problem) for problem in problems))
        return catalog

    def tags(self, template: str) -> frozenset[TemplateTag]:
        """The tags ``template`` declares (the gatekeeper decides on them); none for a template not listed."""
        spec = self.templates.get(template)
        return spec.tags if spec is not None else frozenset()

    def parts(self, template: str, channel: Channel) -> tuple[str, ...]:
        spec = self.templates[template]
        return tuple(spec.parts.get(channel, PARTS[channel]))

    def provided(self, template: str, channel: Channel) -> frozenset[str]:
        names: set[str] = {*self.platform_variables, *self.channel_variables.get(channel, [])}
        for item in self.templates[template].variables:
            names.update(self.variable_sets.get(item[1:], []) if item.startswith("@") else [item])
        return frozenset(names)


class LocaleRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    say_language: str
    say_voice: str
    sms_opt_out: Annotated[list[str], Field(min_length=1)]
    email_opt_out: Annotated[list[str], Field(min_length=1)]
    forbidden: list[str] = []
    # Regular expressions for wording that presents the sender as the police, a court or another authority.
    impersonation: list[str] = []
    money: list[str] = []
    # Words that tell a reader the message is about a debt: none in a limited_content template.
    debt_words: list[str] = []
    # Regular expressions of which a debt_advice template must match one in each part the debtor reads.
    debt_advice: list[str] = []


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered message: its parts by name and the locale it was rendered in."""

    locale: str
    parts: dict[str, str]


class TemplateBook:
    """The templates of one deployment, linted and ready to render."""

    def __init__(self, root: Path, catalog: Catalog, locales: dict[str, LocaleRules]) -> None:
        self.root = root
        self.catalog = catalog
        self.locales = locales
        self._env = _environment(root)

    @classmethod
    def load(cls, root: Path) -> TemplateBook:
        """Lint and load; a bad template raises ``TemplateError`` naming every problem and its file."""
        problems = lint(root)
        if problems:
            listed = "\n  ".join(str(problem) for problem in problems)
            raise TemplateError(f"{len(problems)} template problem(s):\n  {listed}")
        catalog = _load_catalog(root)
        assert catalog is not None
        return cls(root, catalog, _load_locales(root))

    def locale(self, language: str) -> str:
        """The locale a debtor's language is served in: exact; then the catalog's ``fallbacks``; then the
        same language, the default locale first (``en-CA`` gets en-US, not en-GB); then the default."""
        if language in self.locales:
            return language
        if language in self.catalog.fallbacks:
            return self.catalog.fallbacks[language]
        primary = language.split("-")[0].lower()
        default = self.catalog.default_locale
        for locale in [default, *sorted(self.locales)]:
            if locale.split("-")[0].lower() == primary:
                return locale
        return default

    def voice(self, language: str) -> LocaleRules:
        return self.locales[self.locale(language)]

    def has(self, channel: Channel, template: str) -> bool:
        spec = self.catalog.templates.get(template)
        return spec is not None and channel in spec.channels

    def render(
        self,
        channel: Channel,
        template: str,
        language: str,
        variables: Mapping[str, str],
        parts: tuple[str, ...] | None = None,
    ) -> Rendered:
        """Render ``parts`` (the channel's usual parts by default) of one template in the debtor's locale."""
        if not self.has(channel, template):
            raise RenderError(f"no {channel.value} template {template!r}")
        locale = self.locale(language)
        wanted = parts or self.catalog.parts(template, channel)
        rendered: dict[str, str] = {}
        for part in wanted:
            name = f"{locale}/{channel.value}/{template}.{part}.j2"
            try:
                text = self._env.get_template(name).render(dict(variables))
            except jinja2.TemplateError as exc:
                # The message names the variable or file, never a value.
                raise RenderError(f"{name}: {exc.message or type(exc).__name__}") from exc
            rendered[part] = _SPACES.sub(" ", text).strip() if part in _ONE_LINE else text.strip() + "\n"
        return Rendered(locale, rendered)


def _environment(root: Path) -> SandboxedEnvironment:
    # Sandboxed and strict: a template cannot reach into Python objects, and a missing variable is an
    # error rather than an empty string in a letter to a customer. HTML parts are escaped.
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _load_catalog(root: Path) -> Catalog | None:
    try:
        return Catalog.model_validate(tomllib.loads((root / "catalog.toml").read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError):
        return None


def _load_locales(root: Path) -> dict[str, LocaleRules]:
    locales = {}
    for path in sorted(root.glob("*/locale.toml")):
        locales[path.parent.name] = LocaleRules.model_validate(
            tomllib.loads(path.read_text(encoding="utf-8"))
        )
    return locales


# ---- lint -------------------------------------------------------------------------------------------


def lint(root: Path) -> list[Problem]:
    """Every problem with the templates under ``root``; empty when they are fit to send."""
    problems: list[Problem] = []
    catalog_file = root / "catalog.toml"
    catalog = _read_model(catalog_file, Catalog, problems)
    locales: dict[str, LocaleRules] = {}
    # A locale with a pattern that does not compile is reported once, not used on every file.
    broken: set[str] = set()
    for path in sorted(root.glob("*/locale.toml")):
        rules = _read_model(path, LocaleRules, problems)
        if rules is not None:
            locales[path.parent.name] = rules
            bad = _bad_patterns(path, rules)
            problems += bad
            if bad:
                broken.add(path.parent.name)
    if catalog is None:
        return problems
    if catalog.default_locale not in locales:
        problems.append(
            Problem(catalog_file, f"default_locale {catalog.default_locale!r} has no locale.toml")
        )
    for language, locale in sorted(catalog.fallbacks.items()):
        if locale not in locales:
            problems.append(Problem(catalog_file, f"fallbacks: {language!r} = {locale!r} has no locale.toml"))
    for name, spec in catalog.templates.items():
        for item in spec.variables:
            if item.startswith("@") and item[1:] not in catalog.variable_sets:
                problems.append(Problem(catalog_file, f"templates.{name}: unknown variable set {item!r}"))
    env = _environment(root)
    expected: set[Path] = set()
    for locale, rules in locales.items():
        for template, spec in catalog.templates.items():
            for channel in spec.channels:
                for part in catalog.parts(template, channel):
                    path = root / locale / channel.value / f"{template}.{part}.j2"
                    expected.add(path)
                    if locale not in broken:
                        problems += _lint_file(env, root, path, catalog, rules, template, channel, part)
    for path in sorted(root.glob("*/*/*.j2")):
        if path not in expected:
            problems.append(Problem(path, "not in catalog.toml (a typo in the name, or a missing entry)"))
    return problems


def _read_model(path: Path, model: type[M], problems: list[Problem]) -> M | None:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem(path, "file not found"))
        return None
    except tomllib.TOMLDecodeError as exc:
        problems.append(Problem(path, f"not valid TOML: {exc}"))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems.append(Problem(path, format_errors(exc)))
        return None


def _bad_patterns(path: Path, rules: LocaleRules) -> list[Problem]:
    problems = []
    for field in ("sms_opt_out", "email_opt_out", "money", "impersonation", "debt_advice"):
        for pattern in getattr(rules, field):
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(Problem(path, f"{field}: {pattern!r} is not a regular expression: {exc}"))
    return problems


def _lint_file(
    env: SandboxedEnvironment,
    root: Path,
    path: Path,
    catalog: Catalog,
    rules: LocaleRules,
    template: str,
    channel: Channel,
    part: str,
) -> list[Problem]:
    if not path.is_file():
        return [
            Problem(path, f"missing: template {template!r} must exist on {channel.value} in every locale")
        ]
    source = path.read_text(encoding="utf-8")
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [Problem(path, f"line {exc.lineno}: {exc.message}")]
    problems = []
    used = meta.find_undeclared_variables(tree)
    provided = catalog.provided(template, channel)
    for name in sorted(used - provided):
        problems.append(
            Problem(path, f"uses {name!r}, which is not provided to {template!r} on {channel.value}")
        )
    text = literal_text(tree, html_part=part == "html")
    for phrase in rules.forbidden:
        if _contains_phrase(text, phrase):
            problems.append(Problem(path, f"forbidden phrase {phrase!r} (threatening or misleading)"))
    for pattern in rules.impersonation:
        match = re.search(pattern, text)
        if match:
            problems.append(
                Problem(path, f"impersonation: {match.group(0)!r} presents the sender as an authority")
            )
    tags = catalog.tags(template)
    kind = OPT_OUT_PARTS.get((channel, part))
    if TemplateTag.OPT_OUT_CONFIRMATION in tags and channel is not Channel.SMS:
        problems.append(Problem(path, "an opt-out confirmation is an SMS only"))
    if kind is not None and TemplateTag.OPT_OUT_CONFIRMATION not in tags:
        patterns = rules.sms_opt_out if kind == "sms" else rules.email_opt_out
        if not any(re.search(pattern, text) for pattern in patterns):
            problems.append(Problem(path, f"missing the {path.parts[-3]} opt-out instruction"))
        if kind == "email" and "unsubscribe_url" not in used:
            problems.append(Problem(path, "missing the unsubscribe link ({{ unsubscribe_url }})"))
    if (channel, part) in LIMITED_CONTENT or TemplateTag.LIMITED_CONTENT in tags:
        problems += _limited_content(path, used, text, catalog, rules)
    if TemplateTag.LIMITED_CONTENT in tags:
        problems += _third_party_safe(path, used, text, catalog, rules, channel)
    referral = (channel, part) in DEBT_ADVICE_PARTS and TemplateTag.DEBT_ADVICE in tags
    if referral and not any(re.search(pattern, text) for pattern in rules.debt_advice):
        problems.append(
            Problem(path, "missing the debt-advice referral line (the template is tagged debt_advice)")
        )
    if not problems:
        try:
            env.from_string(source).render({name: catalog.samples.get(name, "x") for name in used})
        except jinja2.TemplateError as exc:
            problems.append(Problem(path, f"does not render with the sample variables: {exc}"))
    return problems


def _limited_content(
    path: Path, used: set[str], text: str, catalog: Catalog, rules: LocaleRules
) -> list[Problem]:
    problems = [
        Problem(path, f"limited content: must not use {name!r} (reveals the debt)")
        for name in sorted(used & set(catalog.money_variables))
    ]
    for pattern in rules.money:
        match = re.search(pattern, text)
        if match:
            problems.append(Problem(path, f"limited content: {match.group(0)!r} looks like an amount"))
    if _DIGIT_RUN.search(text):
        problems.append(Problem(path, "limited content: a run of digits looks like an account number"))
    return problems


def _third_party_safe(
    path: Path, used: set[str], text: str, catalog: Catalog, rules: LocaleRules, channel: Channel
) -> list[Problem]:
    """A limited_content template may reach a third party: nothing of the debt or the credit, in any part."""
    allowed = {
        *catalog.platform_variables,
        *catalog.channel_variables.get(channel, []),
        *catalog.limited_variables,
    }
    problems = [
        Problem(path, f"limited content: must not use {name!r} (tagged limited_content: reveals the credit)")
        for name in sorted(used - allowed - set(catalog.money_variables))
    ]
    problems += [
        Problem(path, f"limited content: {word!r} reveals the debt (tagged limited_content)")
        for word in rules.debt_words
        if _contains_phrase(text, word)
    ]
    return problems


def literal_text(tree: nodes.Template, *, html_part: bool = False) -> str:
    """The text a template writes itself (not its variables), normalized for matching."""
    text = "".join(node.data for node in tree.find_all(nodes.TemplateData))
    if html_part:
        text = html.unescape(_TAG.sub(" ", text))
    return unicodedata.normalize("NFKC", text)


def _contains_phrase(text: str, phrase: str) -> bool:
    phrase = unicodedata.normalize("NFKC", phrase)
    if phrase.isascii():
        # Latin words match at a word start, so 'arrest' finds 'arrested' but 'police' leaves 'policy'.
        return re.search(rf"(?<![A-Za-z]){re.escape(phrase)}", text, re.IGNORECASE) is not None
    return phrase in text
