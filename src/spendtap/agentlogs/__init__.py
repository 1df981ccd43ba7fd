"""Usage from coding agents' own logs: Claude Code, Codex CLI, Gemini CLI.

One module per log format, each turning lines into ``AgentCall`` records:

    claude_code   transcripts (``~/.claude/projects``)
    codex         rollouts (``$CODEX_HOME/sessions``)
    gemini        chats (``~/.gemini/tmp``)

and the machinery they share:

    lines         JSON Lines read a chunk at a time, resumable
    importer      backfill, then follow new lines and files
    parallel      a large backfill split across processes
    context       device, repository, branch, ticket, user for a call from a log
    events        agent calls to usage events (context, list price, stable id)
    bulk_pricing  the pricer's rate cards, looked up once per model and half hour
    sinks         JSON Lines out, or the collector's spool
    stats         what an import read, kept, merged and skipped

``docs/agent-logs.md`` says what each log holds and leaves out.
"""
