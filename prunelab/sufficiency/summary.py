"""stub"""
def write_summary(tables, out_dir, title=""):
    return None
