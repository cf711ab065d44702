'use strict';
// A picker's choice from a pairing above the user's (a town clerk's meeting held during the
// county pairing's visit) may be chosen but not opened: its page answers 404. Django points
// the pencil and eye beside the picker at whatever is chosen; for such a choice they are left
// without an address, titled with the reason (partnerships/admin.py, in_scope).
{
    const $ = django.jQuery;

    function outsideScope(select) {
        const option = select.selectedOptions[0];
        if (!option || !option.value) {
            return false;
        }
        if (option.hasAttribute('data-outside-scope')) {
            return true;
        }
        // A choice found by searching: select2 keeps the search's result with it.
        return $(select).data('select2') !== undefined &&
            $(select).select2('data').some(function(item) {
                return item.id === option.value && item.outside_scope === true;
            });
    }

    $(document).on('django:update-related', '.related-widget-wrapper select', function(event) {
        const links = $(this).nextAll('.view-related, .change-related, .delete-related');
        if (!outsideScope(this)) {
            // Another choice: Django gives the links its address; their own titles return.
            links.each(function() {
                if (this.dataset.outsideScope !== undefined) {
                    this.setAttribute('title', this.dataset.titleInScope);
                    delete this.dataset.outsideScope;
                    delete this.dataset.titleInScope;
                }
            });
            return;
        }
        event.preventDefault();
        const reason = this.dataset.outsideScopeTitle;
        links.each(function() {
            if (this.dataset.outsideScope === undefined) {
                this.dataset.titleInScope = this.getAttribute('title') || '';
                this.dataset.outsideScope = '';
            }
            this.removeAttribute('href');
            this.setAttribute('aria-disabled', 'true');
            this.setAttribute('title', reason);
        });
    });
}
