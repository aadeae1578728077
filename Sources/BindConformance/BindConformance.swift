import BindKit
