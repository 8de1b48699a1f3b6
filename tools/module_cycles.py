#!/usr/bin/env python3
"""Lists import cycles between the modules (files) of each library crate.

    python3 tools/module_cycles.py [crates/*]

A module depends on another when it names it: `crate::other::…`, `super::other`
from a child, or a name that the crate root re-exports from `other`
(`use crate::{Name}` where lib.rs has `pub use other::Name`). Prints every
strongly connected group of more than one module and exits 1 if there is any.
"""
import glob, os, re, sys

def modules(src):
    mods = {}
    for path in glob.glob(os.path.join(src, "**", "*.rs"), recursive=True):
        rel = os.path.relpath(path, src)[:-3]
        if rel in ("lib", "main"):
            continue
        name = rel.replace(os.sep, "::")
        if name.endswith("::mod"):
            name = name[: -len("::mod")]
        mods[name] = open(path).read()
    return mods

def strip_tests(text):
    m = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    text = text[: m.start()] if m else text
    return re.sub(r"//[^\n]*", "", text)

def reexports(lib):
    names = {}
    for m in re.finditer(r"pub use (?:self::)?([\w:]+?)::(\{[^}]*\}|\w+)\s*;", lib, re.S):
        mod, items = m.group(1), m.group(2)
        for item in re.findall(r"\w+", items):
            names[item] = mod
    return names

def deps(name, text, mods, names):
    found = set()
    for m in re.finditer(r"crate::([\w:]+)", text):
        path = m.group(1).split("::")
        for i in range(len(path), 0, -1):
            cand = "::".join(path[:i])
            if cand in mods:
                found.add(cand)
                break
        else:
            if path[0] in names:
                found.add(names[path[0]])
    for m in re.finditer(r"use crate::\{([^;]*)\};", text, re.S):
        for item in re.findall(r"\b(\w+)\b", m.group(1)):
            if item in names:
                found.add(names[item])
            elif item in mods:
                found.add(item)
    parent = name.rsplit("::", 1)[0] if "::" in name else None
    for m in re.finditer(r"super::(\w+)", text):
        cand = f"{parent}::{m.group(1)}" if parent else m.group(1)
        if cand in mods:
            found.add(cand)
    found.discard(name)
    # A child naming its parent module (or the reverse) is structure, not a cycle.
    return {d for d in found if not d.startswith(name + "::") and not name.startswith(d + "::")}

def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(comp)
    for v in graph:
        if v not in index:
            visit(v)
    return out

def main():
    crates = sys.argv[1:] or sorted(glob.glob("crates/*"))
    bad = 0
    for crate in crates:
        src = os.path.join(crate, "src")
        lib = os.path.join(src, "lib.rs")
        if not os.path.exists(lib):
            continue
        mods = modules(src)
        names = reexports(open(lib).read())
        graph = {n: deps(n, strip_tests(t), mods, names) for n, t in mods.items()}
        for comp in sccs(graph):
            if len(comp) > 1:
                bad += 1
                edges = [f"{a} -> {b}" for a in sorted(comp) for b in sorted(graph[a]) if b in comp]
                print(f"{crate}: cycle among {', '.join(sorted(comp))}: " + "; ".join(edges))
    if bad == 0:
        print("no module import cycles")
    sys.exit(1 if bad else 0)

main()
