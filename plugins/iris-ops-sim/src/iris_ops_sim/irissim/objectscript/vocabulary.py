"""The ObjectScript names the simulated parser knows, and the real ones it refuses as unsimulated.

Commands, intrinsic functions and special variables, each by every spelling IRIS accepts (full
name or abbreviation), and the binary operators.
"""

from __future__ import annotations

__all__ = [
    "COMMANDS", "UNSIMULATED_COMMANDS", "BINOPS", "FUNCTIONS", "UNSIMULATED_FUNCTIONS", "SPECIALS",
    "UNSIMULATED_SPECIALS",
]

# Command names: canonical -> accepted spellings (full name or IRIS abbreviation).
# Source: ObjectScript Reference, "Commands" (RCOS), each command's "Synopsis" abbreviation.
COMMANDS = {
    "SET": {"S", "SET"},
    "WRITE": {"W", "WRITE"},
    "DO": {"D", "DO"},
    "IF": {"I", "IF"},
    "ELSEIF": {"ELSEIF"},
    "ELSE": {"E", "ELSE"},
    "FOR": {"F", "FOR"},
    "WHILE": {"WHILE"},
    "QUIT": {"Q", "QUIT"},
    "CONTINUE": {"CONTINUE"},
    "KILL": {"K", "KILL"},
    "HALT": {"HALT"},
    "HANG": {"HANG"},
    "H": {"H"},  # Halt without argument, Hang with one
    "THROW": {"THROW"},
    "TRY": {"TRY"},
    "CATCH": {"CATCH"},
    "ZNSPACE": {"ZN", "ZNSPACE"},
    "XECUTE": {"X", "XECUTE"},
    "LOCK": {"L", "LOCK"},
    "TSTART": {"TS", "TSTART"},
    "TCOMMIT": {"TC", "TCOMMIT"},
    "TROLLBACK": {"TRO", "TROLLBACK"},
    "READ": {"R", "READ"},
}

# Real IRIS commands that this simulator does not run (rejected as <UNIMPLEMENTED>).
UNSIMULATED_COMMANDS = {
    "B", "BREAK", "C", "CLOSE", "G", "GOTO", "J", "JOB", "M", "MERGE", "N", "NEW",
    "O", "OPEN", "RET", "RETURN", "U", "USE", "V", "VIEW", "ZW", "ZWRITE", "ZZDUMP", "ZZWRITE",
    "ZB", "ZBREAK", "ZL", "ZLOAD", "ZP", "ZPRINT", "ZS", "ZSAVE", "ZT", "ZTRAP", "ZK", "ZKILL",
    "P", "PRINT", "ZI", "ZINSERT", "ZR", "ZREMOVE",
}

# Binary operators, longest first.  ObjectScript has no precedence: strictly left to right.
BINOPS = [
    "']]", "**", "&&", "||", "]]", "'=", "'<", "'>", "'[", "']", "'&", "'!", "'?", "<=", ">=",
    "_", "+", "-", "*", "/", "\\", "#", "=", "<", ">", "&", "!", "[", "]", "?",
]

# Intrinsic functions: spelling -> canonical name (ObjectScript Reference, "Functions").
FUNCTIONS = {
    "GET": "GET", "G": "GET",
    "SELECT": "SELECT", "S": "SELECT",
    "PIECE": "PIECE", "P": "PIECE",
    "LENGTH": "LENGTH", "L": "LENGTH",
    "EXTRACT": "EXTRACT", "E": "EXTRACT",
    "DATA": "DATA", "D": "DATA",
    "CASE": "CASE",
    "REPLACE": "REPLACE",
    "ORDER": "ORDER", "O": "ORDER",
    "FIND": "FIND", "F": "FIND",
    "CHAR": "CHAR", "C": "CHAR",
    "ASCII": "ASCII", "A": "ASCII",
    "TRANSLATE": "TRANSLATE", "TR": "TRANSLATE",
    "ZCONVERT": "ZCONVERT", "ZCVT": "ZCONVERT",
    "ISOBJECT": "ISOBJECT",
    "CLASSMETHOD": "CLASSMETHOD",
    "PROPERTY": "PROPERTY",
    "JUSTIFY": "JUSTIFY", "J": "JUSTIFY",
}
# Real functions this simulator does not implement (rejected as <UNIMPLEMENTED>).
UNSIMULATED_FUNCTIONS = {
    "LISTBUILD", "LB", "LIST", "LI", "LISTLENGTH", "LL", "LISTGET", "LG", "INCREMENT", "I",
    "QUERY", "Q", "NAME", "NA", "NUMBER", "NUM", "FNUMBER", "FN", "RANDOM", "R", "TEXT", "T",
    "VIEW", "V", "ZSTRIP", "ZDATE", "ZD", "ZDATETIME", "ZDT", "ZTIME", "ZT", "ZDATEH", "ZDH",
    "METHOD", "CLASSNAME", "PARAMETER", "BIT", "DOUBLE", "DECIMAL", "NORMALIZE", "INUMBER",
    "LISTFIND", "LF", "LISTNEXT", "LISTSAME", "LISTVALID", "LISTDATA", "LD", "LISTFROMSTRING",
    "LFS", "LISTTOSTRING", "LTS", "ZSEARCH", "ZUTIL", "ZU", "XECUTE", "ZABS", "ZSQR", "ZPOWER",
    "ZLOG", "ZEXP", "ZHEX", "ZH", "ZNAME", "ZWASCII", "ZWCHAR", "ZWPACK", "ZWUNPACK", "ZCRC",
    "ZPOSITION", "ZSTRIP", "WASCII", "WCHAR", "WEXTRACT", "WFIND", "WLENGTH", "WREVERSE",
    "REVERSE", "RE", "STACK", "ST", "SORTBEGIN", "SORTEND", "PREFETCHON", "PREFETCHOFF",
    "QLENGTH", "QL", "QSUBSCRIPT", "QS", "ZBOOLEAN", "ZB", "ZOBJCLASSMETHOD", "ZOBJPROPERTY",
}

# Special variables: spelling -> canonical name.
SPECIALS = {
    "ZVERSION": "ZVERSION", "ZV": "ZVERSION",
    "JOB": "JOB", "J": "JOB",
    "NAMESPACE": "NAMESPACE",
    "ZNSPACE": "NAMESPACE",
    "ZERROR": "ZERROR", "ZE": "ZERROR",
    "HOROLOG": "HOROLOG", "H": "HOROLOG",
    "ZTIMESTAMP": "ZTIMESTAMP", "ZTS": "ZTIMESTAMP",
    "TLEVEL": "TLEVEL", "TL": "TLEVEL",
    "USERNAME": "USERNAME",
    "TEST": "TEST", "T": "TEST",
    "X": "X", "Y": "Y",
    "ZEOF": "ZEOF",
    "ZHOROLOG": "ZHOROLOG", "ZH": "ZHOROLOG",
}
UNSIMULATED_SPECIALS = {
    "ECODE", "EC", "ESTACK", "ES", "ETRAP", "ET", "IO", "KEY", "K", "PRINCIPAL", "P", "QUIT", "Q",
    "ROLES", "STACK", "ST", "STORAGE", "S", "SYSTEM", "THIS", "ZA", "ZB", "ZCHILD", "ZC",
    "ZEOS", "ZIO", "ZJOB", "ZJ", "ZMODE", "ZM", "ZNAME", "ZN", "ZORDER", "ZO",
    "ZPARENT", "ZP", "ZPI", "ZPOS", "ZREFERENCE", "ZR", "ZSTORAGE", "ZS", "ZTIMEZONE", "ZTZ",
    "ZTRAP", "ZT", "DEVICE", "D", "HALT", "ZU",
}
