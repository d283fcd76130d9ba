#!/usr/bin/env python3
"""Independent check of constrained generations: every output must parse as JSON and validate
against its schema with python3-jsonschema (Draft 2020-12).

usage: validate_outputs.py SCHEMAS.json OUTPUTS.jsonl
SCHEMAS.json is a list of schemas; each OUTPUTS line is {"schema": index, "text": "..."}.
Prints one JSON object: {"checked": n, "failures": [{"schema": i, "text": ..., "error": ...}]}.
"""
import json
import sys

import jsonschema


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        schemas = json.load(f)
    validators = [jsonschema.Draft202012Validator(s) for s in schemas]
    checked, failures = 0, []
    with open(sys.argv[2], encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            checked += 1
            try:
                doc = json.loads(item["text"])
                validators[item["schema"]].validate(doc)
            except (ValueError, jsonschema.ValidationError) as e:
                failures.append({"schema": item["schema"], "text": item["text"],
                                 "error": str(e).splitlines()[0]})
    print(json.dumps({"checked": checked, "failures": failures[:20],
                      "n_failures": len(failures)}))


if __name__ == "__main__":
    main()
