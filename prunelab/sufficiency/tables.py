"""stub"""
def analyse(raw, **kw):
    return raw
