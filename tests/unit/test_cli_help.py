"""Every subcommand says what it does (`--help` has a description) and every argument has help text."""

import argparse

from streams.cli import build_parser


def _parsers(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _parsers(sub, (*path, name))


def test_every_subcommand_has_a_description_and_every_argument_help():
    missing = []
    for path, sub in _parsers(build_parser()):
        if not sub.description:
            missing.append(f"{' '.join(path)}: no description")
        missing += [f"{' '.join(path)} {a.option_strings or a.dest}: no help" for a in sub._actions
                    if a.help is None and not isinstance(a, argparse._HelpAction)]
    assert not missing, "\n".join(missing)
