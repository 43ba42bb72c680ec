"""Test support: what deployctl's own suite (and a plugin's) tests with.

Like pre-commit's ``testing/`` and tox's ``tox.pytest``, it ships with the
package but production code never imports it, and importing deployctl
never imports it (nor moto, which it needs: the ``dev`` extra).

- :mod:`.clock`: :class:`VirtualClock`, time that moves only when slept;
- :mod:`.fake`: the fake world, an in-memory backend kept in a JSON file;
- :mod:`.crash`: crash points (after a journal record, an AWS call, a fake
  apply) and a trace of them;
- :mod:`.cli`: the CLI as a real process, forked from a pre-loaded server
  (:mod:`.forkserver`), with crash points and the fake world wired in;
- :mod:`.aws`, :mod:`.moto`, :mod:`.worlds`: moto (in-process and server),
  API call counts, and the AWS world each example plan needs;
- :mod:`.plans`, :mod:`.golden`, :mod:`.http`: hand-built plans, golden
  cases, a local web server for smoke tests;
- :mod:`.pytest_plugin`: the fixtures.
"""
